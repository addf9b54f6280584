/**
 * ctx.emit with avro({ schema }): the value is checked at the call, framed by the Schema Registry
 * (Confluent wire format) when the invocation completes, and written with the completion only
 * when it succeeds. Runs the real registry adapter against the in-process fake registry.
 */
import avsc from "avsc";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { avro, object, service, TerminalError, type ObjectContext, type ServiceContext } from "../../index.js";
import { SchemaRegistryAvroPayloads } from "../../connectors/schema_registry/index.js";
import { AVRO_ENCODE_RETRY } from "../../runtime/egress/avro_emit.js";
import type { AvroPayloads } from "../../runtime/payload/avro_port.js";
import type { RuntimePorts } from "../../runtime/ports.js";
import { KvoError } from "../../sdk/errors.js";
import { FakeSchemaRegistry } from "../support/fake_schema_registry.js";
import { MemoryApp } from "../support/memory_app.js";
import { VirtualClock, VirtualTime } from "../support/virtual_clock.js";
import { waitFor } from "../support/wait.js";

const reading = {
  type: "record",
  name: "Reading",
  namespace: "kvo.egress",
  fields: [
    { name: "machine", type: "string" },
    { name: "temp", type: "double" },
    { name: "at", type: "long" },
    { name: "note", type: ["null", "string"], default: null },
  ],
};
const sample = { machine: "m-1", temp: 81.5, at: 1_732_572_000_123, note: null };

let registry: FakeSchemaRegistry;
let payloads: SchemaRegistryAvroPayloads;
const apps: MemoryApp[] = [];

beforeEach(async () => {
  registry = await new FakeSchemaRegistry().start();
  payloads = new SchemaRegistryAvroPayloads({ url: registry.url, requestTimeoutMs: 2_000 });
});

afterEach(async () => {
  for (const app of apps.splice(0)) await app.runtime.stop();
  await registry.stop();
});

/** A MemoryApp with an output topic "out", on `ports` (default: the fake registry). */
async function startApp(
  defs: ConstructorParameters<typeof MemoryApp>[0],
  options: ConstructorParameters<typeof MemoryApp>[1] = {},
  ports: RuntimePorts = { avroPayloads: payloads },
) {
  const app = new MemoryApp(defs, options, ports);
  apps.push(app);
  app.log.createTopic("out", 3);
  await app.start();
  const out = () => app.log.partitions("out").flat();
  return { app, out };
}

/** A handler that emits `value` with avro(schema) and returns "ok". */
function emitter(value: () => unknown, schema: object | string = reading, extra: { subject?: string } = {}) {
  return object({
    name: "Machine",
    handlers: {
      report: async (ctx: ObjectContext) => {
        ctx.emit("out", { key: ctx.key, value: value(), headers: { origin: "kvo" } }, { format: avro({ schema, ...extra }) });
        return "ok";
      },
    },
  });
}

/** The code and message ctx.emit threw, returned by the handler (null: it did not throw). */
function catching(emit: (ctx: ServiceContext) => void) {
  return service({
    name: "Probe",
    handlers: {
      run: async (ctx: ServiceContext) => {
        try {
          emit(ctx);
          return null;
        } catch (e) {
          return { code: (e as KvoError).code, retryable: (e as KvoError).retryable, message: (e as Error).message };
        }
      },
    },
  });
}

describe("ctx.emit with avro(): a successful invocation", () => {
  it("writes one Confluent-framed record that decodes back to the value, its schema registered under <topic>-value", async () => {
    const { app, out } = await startApp({ objects: [emitter(() => sample)] });
    expect((await app.reply(app.send("Machine/m-1", "report"))).status).toBe("ok");

    const records = out();
    expect(records).toHaveLength(1);
    const record = records[0]!;
    expect(record.key?.toString()).toBe("m-1");
    expect(record.headers.origin?.toString()).toBe("kvo");
    const bytes = record.value!;
    expect(bytes[0], "magic byte").toBe(0);
    const id = bytes.readInt32BE(1);
    expect(id).toBe(registry.add(reading));
    expect(bytes.subarray(5)).toEqual(avsc.Type.forSchema(reading as avsc.Schema).toBuffer(sample));
    const decoded = await payloads.decode(bytes);
    expect({ ...(decoded.value as object) }).toEqual(sample);
    expect(registry.requestsTo("/subjects/out-value/versions")).toHaveLength(1);
  });

  it("registers under the subject given in avro({ subject })", async () => {
    const { app } = await startApp({ objects: [emitter(() => sample, reading, { subject: "readings.v1" })] });
    expect((await app.reply(app.send("Machine/m-1", "report"))).status).toBe("ok");
    expect(registry.requestsTo("/subjects/readings.v1/versions")).toHaveLength(1);
    expect(registry.requestsTo("/subjects/out-value")).toHaveLength(0);
  });

  it("writes the value as it was at the call, even if the handler changes the object afterwards", async () => {
    const o = object({
      name: "Machine",
      handlers: {
        report: async (ctx: ObjectContext) => {
          const value = { ...sample };
          ctx.emit("out", { key: ctx.key, value }, { format: avro({ schema: reading }) });
          value.temp = -1;
          return "ok";
        },
      },
    });
    const { app, out } = await startApp({ objects: [o] });
    expect((await app.reply(app.send("Machine/m-1", "report"))).status).toBe("ok");
    expect((await payloads.decode(out()[0]!.value!)).value).toMatchObject({ temp: 81.5 });
  });

  it("writes a null value as a tombstone, without asking the registry", async () => {
    const { app, out } = await startApp({ objects: [emitter(() => null)] });
    expect((await app.reply(app.send("Machine/m-1", "report"))).status).toBe("ok");
    expect(out().map((r) => r.value)).toEqual([null]);
    expect(registry.requests).toHaveLength(0);
  });
});

describe("ctx.emit with avro(): refused at the call with invalid_emit", () => {
  it("a value that does not match the schema, naming the field", async () => {
    const probe = catching((ctx) => ctx.emit("out", { value: { ...sample, temp: "hot" } }, { format: avro({ schema: reading }) }));
    const { app, out } = await startApp({ services: [probe] });
    const reply = await app.reply(app.send("Probe", "run"));
    expect(reply.value).toMatchObject({ code: "invalid_emit", retryable: false });
    expect((reply.value as { message: string }).message).toMatch(/ctx\.emit\("out"\).*temp: expected double, got "hot"/);
    expect(out()).toHaveLength(0);
    expect(registry.requests, "nothing is sent for an invalid value").toHaveLength(0);
  });

  it("a long outside the safe integer range", async () => {
    const probe = catching((ctx) =>
      ctx.emit("out", { value: { machine: "m", temp: 1, at: 2 ** 60, note: null } }, { format: avro({ schema: reading }) }),
    );
    const { app } = await startApp({ services: [probe] });
    const reply = await app.reply(app.send("Probe", "run"));
    expect(reply.value).toMatchObject({ code: "invalid_emit" });
    expect((reply.value as { message: string }).message).toContain("at: expected long");
  });

  it("avro() without a schema, and a schema that is not Avro", async () => {
    const noSchema = catching((ctx) => ctx.emit("out", { value: sample }, { format: avro() }));
    const { app } = await startApp({ services: [noSchema] });
    const reply = await app.reply(app.send("Probe", "run"));
    expect(reply.value).toMatchObject({ code: "invalid_emit" });
    expect((reply.value as { message: string }).message).toContain("needs the writer schema");

    const badSchema = catching((ctx) => ctx.emit("out", { value: sample }, { format: avro({ schema: { type: "record", fields: 3 } }) }));
    const second = await startApp({ services: [badSchema] });
    const bad = await second.app.reply(second.app.send("Probe", "run"));
    expect(bad.value).toMatchObject({ code: "invalid_emit" });
    expect((bad.value as { message: string }).message).toContain("not a valid Avro schema");
  });

  it("a record above maxRecordBytes, measured on the framed Avro value", async () => {
    const big = { type: "record", name: "Blob", fields: [{ name: "data", type: "string" }] };
    const probe = catching((ctx) => ctx.emit("out", { value: { data: "x".repeat(20_000) } }, { format: avro({ schema: big }) }));
    const { app } = await startApp({ services: [probe] }, { maxRecordBytes: 16_384 });
    const reply = await app.reply(app.send("Probe", "run"));
    expect(reply.value).toMatchObject({ code: "record_too_large" });
  });
});

describe("ctx.emit with avro(): the registry when the invocation completes", () => {
  it("a registry that is down, then up, delivers exactly one record, the handler running once", async () => {
    let runs = 0;
    const { app, out } = await startApp({ objects: [emitter(() => (runs++, sample))] });
    registry.failWith = 503;
    const corr = app.send("Machine/m-1", "report");
    await waitFor(() => registry.requests.length >= 2, "two refused registrations");
    expect(out(), "nothing is written while the registry is down").toHaveLength(0);
    registry.failWith = undefined;

    expect((await app.reply(corr)).status).toBe("ok");
    expect(out()).toHaveLength(1);
    expect((await payloads.decode(out()[0]!.value!)).value).toMatchObject(sample);
    expect(runs, "the encoding is retried while the attempt waits").toBe(1);
  });

  it("a registry down for longer than the in-attempt retries: the invocation's retry policy runs the handler again, one record", async () => {
    const failures = AVRO_ENCODE_RETRY.maxAttempts + 2;
    const calls: string[] = [];
    const flaky: AvroPayloads = {
      decode: (bytes) => payloads.decode(bytes),
      encode: async (subject, schema, value) => {
        calls.push(subject);
        if (calls.length <= failures) throw new KvoError("fake registry down", { code: "schema_registry_unavailable", retryable: true });
        return payloads.encode(subject, schema, value);
      },
    };
    let runs = 0;
    const { app, out } = await startApp(
      { objects: [emitter(() => (runs++, sample))] },
      { clock: new VirtualClock(new VirtualTime()) },
      { avroPayloads: flaky },
    );
    const reply = await app.reply(app.send("Machine/m-1", "report"), 10_000);
    expect(reply.status).toBe("ok");
    expect(calls).toHaveLength(failures + 1);
    expect(runs, "attempt 1 gave up after AVRO_ENCODE_RETRY, attempt 2 succeeded").toBe(2);
    expect(out()).toHaveLength(1);
  });

  it("stopping the runtime while the registry is down ends the retries and writes nothing", async () => {
    const calls: string[] = [];
    const down: AvroPayloads = {
      decode: (bytes) => payloads.decode(bytes),
      encode: async (subject) => {
        calls.push(subject);
        throw new KvoError("fake registry down", { code: "schema_registry_unavailable", retryable: true });
      },
    };
    const clock = new VirtualClock(new VirtualTime());
    const { app, out } = await startApp({ objects: [emitter(() => sample)] }, { clock }, { avroPayloads: down });
    app.send("Machine/m-1", "report");
    await waitFor(() => calls.length >= 1, "the first registration");
    await app.runtime.stop();
    // Virtual time runs the backoff fast: retries may happen before stop() resolves (more on a
    // loaded machine), none after it. Every timer left would fire within a few event-loop hops.
    const callsAtStop = calls.length;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(calls.length, "no registry call after the stop").toBe(callsAtStop);
    expect(clock.pending, "no retry timer left").toBe(0);
    expect(out()).toHaveLength(0);
  });

  it("a schema the registry refuses fails the invocation with schema_rejected, at once and writing nothing", async () => {
    let runs = 0;
    const { app, out } = await startApp({ objects: [emitter(() => (runs++, sample))] });
    registry.failWith = 409; // incompatible with the subject's earlier versions
    const reply = await app.reply(app.send("Machine/m-1", "report"));
    expect(reply).toMatchObject({ status: "failed", errorCode: "schema_rejected" });
    expect(reply.errorMessage).toMatch(/ctx\.emit\("out"\).*subject "out-value"/);
    expect(runs, "terminal: no retry").toBe(1);
    expect(out()).toHaveLength(0);
  });

  it("framed bytes above maxRecordBytes fail the invocation with record_too_large", async () => {
    const inflating: AvroPayloads = {
      decode: (bytes) => payloads.decode(bytes),
      encode: async () => Buffer.alloc(20_000),
    };
    const { app, out } = await startApp({ objects: [emitter(() => sample)] }, { maxRecordBytes: 16_384 }, { avroPayloads: inflating });
    const reply = await app.reply(app.send("Machine/m-1", "report"));
    expect(reply).toMatchObject({ status: "failed", errorCode: "record_too_large" });
    expect(out()).toHaveLength(0);
  });

  it("without a registry port, the invocation fails with a configuration error naming the fix", async () => {
    const { app, out } = await startApp({ objects: [emitter(() => sample)] }, {}, {});
    const reply = await app.reply(app.send("Machine/m-1", "report"));
    expect(reply).toMatchObject({ status: "failed", errorCode: "configuration" });
    expect(reply.errorMessage).toContain("no Schema Registry connection");
    expect(out()).toHaveLength(0);
  });
});

describe("ctx.emit with avro(): only a successful invocation's records are written", () => {
  it("a failed invocation's Avro emit is never written nor registered", async () => {
    const o = object({
      name: "Machine",
      handlers: {
        report: async (ctx: ObjectContext) => {
          ctx.emit("out", { key: ctx.key, value: sample }, { format: avro({ schema: reading }) });
          throw new TerminalError("refused after emitting", { code: "refused" });
        },
      },
    });
    const { app, out } = await startApp({ objects: [o] });
    const reply = await app.reply(app.send("Machine/m-1", "report"));
    expect(reply).toMatchObject({ status: "failed", errorCode: "refused" });
    expect(out()).toHaveLength(0);
    expect(registry.requests).toHaveLength(0);
  });

  it("of a retried invocation, only the record of the attempt that succeeded", async () => {
    const o = object({
      name: "Machine",
      handlers: {
        report: async (ctx: ObjectContext) => {
          ctx.emit("out", { key: ctx.key, value: { ...sample, temp: ctx.request.attempt } }, { format: avro({ schema: reading }) });
          if (ctx.request.attempt === 1) throw new Error("transient");
          return "ok";
        },
      },
    });
    const { app, out } = await startApp({ objects: [o] }, { retry: { initialIntervalMs: 1 } });
    expect((await app.reply(app.send("Machine/m-1", "report"))).status).toBe("ok");
    const values = await Promise.all(out().map(async (r) => (await payloads.decode(r.value!)).value));
    expect(values).toEqual([expect.objectContaining({ temp: 2 })]);
  });
});
