/**
 * ctx.emit with avro() on the real broker and the real Schema Registry (neither mocked): an
 * object emits Avro records; a read_committed consumer sees one per successful invocation, each
 * in the Confluent wire format, and decodes it through the registry by the schema id in its
 * frame, knowing nothing else. The schema is registered under `<topic>-value`.
 */
import { afterEach, describe, expect, it } from "vitest";
import { registryService } from "../../compose/infra/registry.js";
import { avro, connectClient, createRuntime, object, TerminalError, type ObjectContext } from "../../index.js";
import { SchemaRegistryAvroPayloads } from "../../connectors/schema_registry/index.js";
import { bootstrapServers } from "./support/endpoints.js";
import { createTopic, readTopic } from "./support/kafka_tools.js";
import { uniqueName } from "./support/unique.js";

/** globalSetup exports KVO_SCHEMA_REGISTRY_URL; outside it, the infra default (with its API path). */
const registryUrl = (): string => process.env.KVO_SCHEMA_REGISTRY_URL ?? registryService().endpoint();

const reading = {
  type: "record",
  name: "Reading",
  namespace: "kvo.it.egress",
  fields: [
    { name: "machine", type: "string" },
    { name: "seq", type: "int" },
    { name: "temp", type: "double" },
    { name: "at", type: "long" },
    { name: "raw", type: "bytes" },
    { name: "note", type: ["null", "string"], default: null },
  ],
};

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

describe("Avro egress on Kafka and the Schema Registry", () => {
  it("a read_committed consumer decodes each emitted record through the registry by its schema id; failed invocations emit nothing", async () => {
    const app = uniqueName("kvo-egress-avro");
    const outTopic = `${app}.readings`;
    await createTopic(outTopic, 3);
    let flakyAttempts = 0;
    const machine = object({
      name: "Machine",
      handlers: {
        report: async (ctx: ObjectContext, input: { temp: number }) => {
          const seq = ((await ctx.get<number>("seq")) ?? 0) + 1;
          ctx.set("seq", seq);
          const value = { machine: ctx.key, seq, temp: input.temp, at: 1_732_572_000_000 + seq, raw: Buffer.from([seq]), note: null };
          ctx.emit(outTopic, { key: ctx.key, value, headers: { kind: "reading" } }, { format: avro({ schema: reading }) });
          if (input.temp < 0) throw new TerminalError("impossible reading", { code: "bad_reading" });
          return seq;
        },
        /** Emits in every attempt, fails the first: only the second attempt's record is written. */
        flaky: async (ctx: ObjectContext) => {
          flakyAttempts++;
          const value = { machine: ctx.key, seq: ctx.request.attempt, temp: 0, at: 0, raw: Buffer.alloc(0), note: "flaky" };
          ctx.emit(outTopic, { key: ctx.key, value, headers: { kind: "flaky" } }, { format: avro({ schema: reading }) });
          if (ctx.request.attempt === 1) throw new Error("transient");
          return ctx.request.attempt;
        },
      },
      options: { retry: { initialIntervalMs: 10, maxAttempts: 3 } },
    });
    const runtime = createRuntime({
      app,
      objects: [machine],
      partitions: 2,
      kafka: { brokers: bootstrapServers(), instanceId: "it-0", sessionTimeoutMs: 6_000 },
      schemaRegistry: { url: registryUrl() },
    });
    await runtime.start();
    cleanups.push(() => runtime.stop());
    const client = await connectClient({ app, brokers: bootstrapServers() });
    cleanups.push(() => client.close());

    const keys = ["m-1", "m-2", "m-3"];
    for (const key of keys) {
      expect(await client.object(machine, key).report({ temp: 20.5 })).toBe(1);
      expect(await client.object(machine, key).report({ temp: 21.5 })).toBe(2);
      const err = await client
        .object(machine, key)
        .report({ temp: -300 })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "bad_reading" });
    }
    expect(await client.object(machine, "m-9").flaky()).toBe(2);
    expect(flakyAttempts).toBe(2);

    const expected = 2 * keys.length + 1;
    const records = await readTopic(outTopic, (rs) => rs.length >= expected, { timeoutMs: 30_000, settleMs: 1_500 });
    expect(records, "one record per successful invocation, none of the failed ones").toHaveLength(expected);

    // The id the runtime registered the schema under, asked of the registry itself.
    const latest = await fetch(`${registryUrl()}/subjects/${encodeURIComponent(`${outTopic}-value`)}/versions/latest`);
    expect(latest.status).toBe(200);
    const registeredId = ((await latest.json()) as { id: number }).id;

    // A codec that knows nothing but the registry: each record decodes by the id in its frame.
    const reader = new SchemaRegistryAvroPayloads({ url: registryUrl() });
    const decoded: Array<{ key: string | null; kind: string | undefined; value: Record<string, unknown> }> = [];
    for (const r of records) {
      const bytes = r.value!;
      expect(bytes[0], "Confluent magic byte").toBe(0);
      expect(bytes.readInt32BE(1), "the frame carries the registered schema id").toBe(registeredId);
      const { value, writerSchemaId } = await reader.decode(bytes);
      expect(writerSchemaId).toBe(registeredId);
      decoded.push({ key: r.key, kind: r.headers.kind, value: { ...(value as Record<string, unknown>) } });
    }
    for (const key of keys) {
      expect(decoded.filter((d) => d.key === key).map((d) => d.value)).toEqual([
        { machine: key, seq: 1, temp: 20.5, at: 1_732_572_000_001, raw: Buffer.from([1]), note: null },
        { machine: key, seq: 2, temp: 21.5, at: 1_732_572_000_002, raw: Buffer.from([2]), note: null },
      ]);
    }
    expect(decoded.filter((d) => d.kind === "flaky").map((d) => [d.key, d.value.seq, d.value.note])).toEqual([["m-9", 2, "flaky"]]);
  }, 60_000);
});
