/**
 * Writing the workload, outside KVO, with the benchmarks' plain producer (../bench_producer.ts):
 *  - produceReadings: N readings to the source topic, Avro in the Confluent wire format
 *    (schema registered through connectors/schema_registry's createAvroPayloads, then the
 *    same frame written by avsc directly, which is much faster than one async encode per
 *    record), as fast as the broker takes them;
 *  - produceInvocations: the same readings as JSON invocation records on `<app>.invocations`
 *    (the backlog suite's format: key `Device/<id>`, header kvo-handler), the "direct"
 *    scenario without the subscription's hop;
 *  - producePaced: readings at a steady rate, each with its own timestamp, for the latency phase.
 * Keys are the device ids; partitions by murmur2 as Java clients do.
 */
import avsc from "avsc";
import { createAvroPayloads, frame, unframe } from "../../../connectors/schema_registry/index.js";
import { BenchProducer } from "../bench_producer.js";
import { HANDLER, OBJECT, READING_SCHEMA, type Reading, type ReadingSource } from "./workload.js";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Registers the reading schema under `<topic>-value` and returns an encoder to its wire format. */
export async function readingEncoder(topic: string): Promise<{ schemaId: number; encode: (r: Reading) => Buffer }> {
  const payloads = createAvroPayloads();
  const probe: Reading = { deviceId: "device-0", seq: 0, temp: 0, at: 0 };
  const { schemaId } = unframe(await payloads.encode(`${topic}-value`, READING_SCHEMA, probe));
  const type = avsc.Type.forSchema(READING_SCHEMA as unknown as avsc.Schema);
  return { schemaId, encode: (r) => frame(schemaId, type.toBuffer(r)) };
}

/** Writes `count` readings to the source topic as fast as possible; returns the seconds it took. */
export async function produceReadings(brokers: string[], topic: string, source: ReadingSource, count: number): Promise<number> {
  const { encode } = await readingEncoder(topic);
  const producer = new BenchProducer(brokers, { lingerMs: 20, clientId: "kvo-bench-subscription-producer" });
  await producer.connect();
  const started = performance.now();
  try {
    for (let i = 0; i < count; i++) {
      const r = source.next(Date.now());
      await producer.send(topic, r.deviceId, encode(r), null);
    }
  } finally {
    await producer.close();
  }
  return (performance.now() - started) / 1000;
}

/** Writes `count` readings as JSON invocations of Device.reading straight to `<app>.invocations`. */
export async function produceInvocations(brokers: string[], topic: string, source: ReadingSource, count: number): Promise<number> {
  const producer = new BenchProducer(brokers, { lingerMs: 20, clientId: "kvo-bench-subscription-direct-producer" });
  await producer.connect();
  const headers = [{ "kvo-handler": HANDLER }];
  const started = performance.now();
  try {
    for (let i = 0; i < count; i++) {
      const r = source.next(Date.now());
      await producer.send(topic, `${OBJECT}/${r.deviceId}`, Buffer.from(JSON.stringify(r)), null, headers);
    }
  } finally {
    await producer.close();
  }
  return (performance.now() - started) / 1000;
}

/** Where paced readings go: Avro readings to a source topic, or JSON invocations to `<app>.invocations`. */
export type PacedTarget = { kind: "source"; topic: string } | { kind: "invocations"; topic: string };

/**
 * Writes readings at `ratePerS` for `seconds`: every 5 ms it sends what the schedule owes by
 * then, each record with its own timestamp (when it was handed to the client). linger.ms is 1,
 * so a record waits at most that long in the client. Returns the number sent, the rate
 * achieved and when the last record was acknowledged (epoch ms).
 */
export async function producePaced(
  brokers: string[],
  target: PacedTarget,
  source: ReadingSource,
  ratePerS: number,
  seconds: number,
): Promise<{ sent: number; achievedPerS: number; doneAtMs: number }> {
  const encode = target.kind === "source" ? (await readingEncoder(target.topic)).encode : (r: Reading) => Buffer.from(JSON.stringify(r));
  const headers = target.kind === "invocations" ? [{ "kvo-handler": HANDLER }] : undefined;
  const keyPrefix = target.kind === "invocations" ? `${OBJECT}/` : "";
  const producer = new BenchProducer(brokers, { lingerMs: 1, clientId: "kvo-bench-subscription-paced-producer" });
  await producer.connect();
  const total = Math.round(ratePerS * seconds);
  let sent = 0;
  const started = performance.now();
  try {
    while (sent < total) {
      const owed = Math.min(total, Math.floor(((performance.now() - started) / 1000) * ratePerS));
      for (; sent < owed; sent++) {
        const at = Date.now();
        const r = source.next(at);
        await producer.send(target.topic, keyPrefix + r.deviceId, encode(r), at, headers);
      }
      await sleep(5);
    }
  } finally {
    await producer.close();
  }
  return { sent, achievedPerS: sent / ((performance.now() - started) / 1000), doneAtMs: Date.now() };
}
