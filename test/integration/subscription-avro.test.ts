/**
 * Subscriptions reading Avro from the real Schema Registry and broker (never mocked).
 *
 * Another system writes `Reading` records of two schema versions (v2 adds a field with a
 * default) in the Confluent wire format, plus two bad records: one framed with a schema id the
 * registry does not know, and one plain JSON. A runtime subscribes with avro({ schema: v2 }):
 *  - both versions decode into v2 (v1 records get the default), JSON-safe (bytes → base64),
 *    with the source record's headers as ctx.request.headers and its position as
 *    ctx.request.source;
 *  - the bad records land in `<app>.dlq` with their error code (unknown_schema_id, not_avro)
 *    and the source position, and the records after them in the same partition still run.
 */
import { afterEach, describe, expect, it } from "vitest";
import { avro, createRuntime, object, subscribe, type ObjectContext } from "../../index.js";
import { SchemaRegistryAvroPayloads } from "../../connectors/schema_registry/index.js";
import { bootstrapServers, schemaRegistryUrl } from "./support/endpoints.js";
import { createTopic, readTopic } from "./support/kafka_tools.js";
import { SourceProducer, type SourceRecordSpec } from "./support/source_topics.js";
import { uniqueName } from "./support/unique.js";

const readingV1 = {
  type: "record",
  name: "Reading",
  namespace: "kvo.it.subscriptions",
  fields: [
    { name: "machine", type: "string" },
    { name: "temp", type: "double" },
    { name: "unit", type: { type: "enum", name: "Unit", symbols: ["C", "F"] } },
    { name: "raw", type: "bytes" },
    { name: "note", type: ["null", "string"], default: null },
  ],
};
const readingV2 = { ...readingV1, fields: [...readingV1.fields, { name: "line", type: "string", default: "line-7" }] };

/** A schema id no registry handed out (ids count up from 1). */
const UNKNOWN_SCHEMA_ID = 0x7ffffff0;

/** What the handler emits for each record it gets. */
interface Seen {
  input: Record<string, unknown>;
  partition: number;
  offset: number;
  subscription: string;
  headers: Record<string, string>;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

describe("Avro subscriptions", () => {
  it("decodes two schema versions into the reader schema and dead-letters unknown-id and non-Avro records", async () => {
    const app = uniqueName("kvo-sub-avro");
    const source = `${app}.readings`;
    const output = `${app}.seen`;
    await createTopic(source, 2);
    await createTopic(output, 1);

    // The other system: registers v1 and v2 under `<topic>-value` and writes with both.
    const writer = new SchemaRegistryAvroPayloads({ url: schemaRegistryUrl() });
    const subject = `${source}-value`;
    const v1 = (machine: string, temp: number) => ({ machine, temp, unit: "C", raw: Buffer.from([1, 2, 3]), note: null });
    const v2 = (machine: string, temp: number) => ({ machine, temp, unit: "F", raw: Buffer.from("hi"), note: "ok", line: "line-2" });
    const a = await writer.encode(subject, readingV1, v1("m-a", 20.5));
    const b = await writer.encode(subject, readingV2, v2("m-b", 70));
    const c = await writer.encode(subject, readingV1, v1("m-c", 21));
    const d = await writer.encode(subject, readingV2, v2("m-d", 71.5));
    const e = await writer.encode(subject, readingV2, v2("m-e", 72));
    expect(a.readInt32BE(1)).not.toBe(b.readInt32BE(1));
    const unknownId = Buffer.concat([Buffer.from([0]), int32(UNKNOWN_SCHEMA_ID), b.subarray(5)]);
    const json = Buffer.from(JSON.stringify({ machine: "m-json", temp: 1 }));

    // Partition 0: a, b, <unknown id>, c, <json>, d. Partition 1: e.
    const records: SourceRecordSpec[] = [
      { key: "m-a", value: a, partition: 0, headers: { origin: "plant-1" } },
      { key: "m-b", value: b, partition: 0 },
      { key: "m-x", value: unknownId, partition: 0, headers: { origin: "plant-9" } },
      { key: "m-c", value: c, partition: 0 },
      { key: "m-json", value: json, partition: 0 },
      { key: "m-d", value: d, partition: 0 },
      { key: "m-e", value: e, partition: 1 },
    ];
    const producer = await new SourceProducer().connect();
    try {
      for (const r of records) await producer.send(source, [r]); // one by one: offsets 0..5 in partition 0
    } finally {
      await producer.close();
    }

    const reading = object({
      name: "Machine",
      handlers: {
        reading: async (ctx: ObjectContext, input: Record<string, unknown>) => {
          const s = ctx.request.source!;
          const seen: Seen = {
            input,
            partition: s.partition,
            offset: s.offset,
            subscription: s.subscription,
            headers: { ...ctx.request.headers },
          };
          ctx.emit(output, { key: ctx.key, value: seen });
        },
      },
    });
    const deadLettered: Array<{ code: string; partition: number; offset: number }> = [];
    const runtime = createRuntime({
      app,
      partitions: 2,
      objects: [reading],
      subscriptions: [subscribe({ topic: source, to: [reading, "reading"], value: avro({ schema: readingV2 }), name: "readings" })],
      kafka: { brokers: bootstrapServers(), instanceId: "avro-0", sessionTimeoutMs: 6_000 },
      schemaRegistry: { url: schemaRegistryUrl() },
    });
    runtime.on("subscription.dead_lettered", (ev) =>
      deadLettered.push({ code: ev.code, partition: ev.partition, offset: Number(ev.offset) }),
    );
    await runtime.start();
    cleanups.push(() => runtime.stop());

    // The good records, each once, decoded into v2.
    const seen = await readTopic(output, (rs) => rs.length >= 5, { timeoutMs: 60_000, settleMs: 2_000 });
    const byKey = new Map(seen.map((r) => [r.key, JSON.parse(r.value!.toString()) as Seen]));
    expect(seen.map((r) => r.key).sort()).toEqual(["m-a", "m-b", "m-c", "m-d", "m-e"]);
    const raw123 = Buffer.from([1, 2, 3]).toString("base64");
    const rawHi = Buffer.from("hi").toString("base64");
    expect(byKey.get("m-a")).toEqual({
      input: { machine: "m-a", temp: 20.5, unit: "C", raw: raw123, note: null, line: "line-7" },
      partition: 0,
      offset: 0,
      subscription: "readings",
      headers: { origin: "plant-1" },
    });
    expect(byKey.get("m-b")?.input).toEqual({ machine: "m-b", temp: 70, unit: "F", raw: rawHi, note: "ok", line: "line-2" });
    expect(byKey.get("m-c")?.input).toEqual({ machine: "m-c", temp: 21, unit: "C", raw: raw123, note: null, line: "line-7" });
    expect(byKey.get("m-d")?.input).toEqual({ machine: "m-d", temp: 71.5, unit: "F", raw: rawHi, note: "ok", line: "line-2" });
    expect(byKey.get("m-e")?.input.machine).toBe("m-e");
    // Records after the bad ones in partition 0 ran, at their own offsets.
    expect([..."bcd"].map((k) => [byKey.get(`m-${k}`)?.partition, byKey.get(`m-${k}`)?.offset])).toEqual([
      [0, 1],
      [0, 3],
      [0, 5],
    ]);
    expect([byKey.get("m-e")?.partition, byKey.get("m-e")?.offset]).toEqual([1, 0]);

    // The bad ones in the DLQ, saying why and where from.
    const dlq = await readTopic(`${app}.dlq`, (rs) => rs.length >= 2, { timeoutMs: 30_000, settleMs: 2_000 });
    const dead = dlq
      .map((r) => ({
        code: r.headers["kvo-error-code"],
        topic: r.headers["kvo-dlq-source-topic"],
        partition: r.headers["kvo-dlq-source-partition"],
        offset: r.headers["kvo-dlq-source-offset"],
        subscription: r.headers["kvo-subscription"],
        hasMessage: (r.headers["kvo-error-message"] ?? "").length > 0,
        // the original key, value and headers (docs/record-format.md), for a replay after a fix
        key: r.key,
        value: r.value?.toString("hex"),
        origin: r.headers.origin,
      }))
      .sort((x, y) => Number(x.offset) - Number(y.offset));
    const from = { topic: source, partition: "0", subscription: "readings", hasMessage: true };
    expect(dead).toEqual([
      { ...from, code: "unknown_schema_id", offset: "2", key: "m-x", value: unknownId.toString("hex"), origin: "plant-9" },
      { ...from, code: "not_avro", offset: "4", key: "m-json", value: json.toString("hex"), origin: undefined },
    ]);
    expect(deadLettered.sort((x, y) => x.offset - y.offset)).toEqual([
      { code: "unknown_schema_id", partition: 0, offset: 2 },
      { code: "not_avro", partition: 0, offset: 4 },
    ]);
    const stats = runtime.stats().subscriptions.find((s) => s.name === "readings");
    expect(stats).toMatchObject({ topic: source, groupId: `${app}.sub.readings`, relayed: 5, deadLettered: 2, skippedDuplicates: 0 });
  }, 120_000);
});

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}
