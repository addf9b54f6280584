/**
 * Writing the workload, outside KVO, with a plain librdkafka producer:
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
import { RdKafka } from "@confluentinc/kafka-javascript";
import { createAvroPayloads, frame, unframe } from "../../../connectors/schema_registry/index.js";
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

type Headers = Array<Record<string, string>>;

/** A fire-and-forget producer that retries on a full queue and checks every delivery. */
class BenchProducer {
  private readonly producer: RdKafka.Producer;
  private sent = 0;
  private delivered = 0;
  // set from the delivery callback (a holder: TypeScript does not see callback writes to a let)
  private readonly failure: { first: Error | null } = { first: null };

  constructor(brokers: string[], lingerMs: number, clientId: string) {
    this.producer = new RdKafka.Producer(
      {
        "bootstrap.servers": brokers.join(","),
        "client.id": clientId,
        "enable.idempotence": true,
        "linger.ms": lingerMs,
        "batch.size": 1_000_000,
        "batch.num.messages": 100_000,
        "queue.buffering.max.messages": 500_000,
        "queue.buffering.max.kbytes": 512 * 1024,
        dr_cb: true,
      },
      // topic-level settings must go here (see connectors/kafka/rdkafka.ts newConsumer)
      { partitioner: "murmur2_random" },
    );
    this.producer.on("delivery-report", (err) => {
      if (err) this.failure.first ??= err instanceof Error ? err : new Error(`delivery failed: ${JSON.stringify(err)}`);
      else this.delivered++;
    });
  }

  async connect(): Promise<void> {
    await new Promise<void>((resolve, reject) => this.producer.connect({ timeout: 30_000 }, (err) => (err ? reject(err) : resolve())));
    this.producer.setPollInterval(20);
  }

  async send(topic: string, key: string, value: Buffer, timestamp: number | null, headers?: Headers): Promise<void> {
    if (this.failure.first) throw this.failure.first;
    for (;;) {
      try {
        this.producer.produce(topic, null, value, Buffer.from(key), timestamp, null, headers);
        this.sent++;
        return;
      } catch (err) {
        if ((err as { code?: number })?.code !== RdKafka.CODES.ERRORS.ERR__QUEUE_FULL) throw err;
        await sleep(5); // librdkafka's queue is full: let the poll loop drain delivery reports
      }
    }
  }

  /** Flushes and waits until every record sent is acknowledged, then disconnects. */
  async close(): Promise<void> {
    try {
      await new Promise<void>((resolve, reject) => this.producer.flush(120_000, (err) => (err ? reject(err) : resolve())));
      // delivery reports are served by the poll interval; wait for the last ones
      const deadline = Date.now() + 30_000;
      while (this.delivered < this.sent && !this.failure.first && Date.now() < deadline) await sleep(10);
      if (this.failure.first) throw this.failure.first;
      if (this.delivered !== this.sent) throw new Error(`${this.delivered} of ${this.sent} records were acknowledged after flush`);
    } finally {
      await new Promise<void>((resolve) => this.producer.disconnect(5_000, () => resolve()));
    }
  }
}

/** Writes `count` readings to the source topic as fast as possible; returns the seconds it took. */
export async function produceReadings(brokers: string[], topic: string, source: ReadingSource, count: number): Promise<number> {
  const { encode } = await readingEncoder(topic);
  const producer = new BenchProducer(brokers, 20, "kvo-bench-subscription-producer");
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
  const producer = new BenchProducer(brokers, 20, "kvo-bench-subscription-direct-producer");
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
  const producer = new BenchProducer(brokers, 1, "kvo-bench-subscription-paced-producer");
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
