/**
 * Subscriptions over the in-memory log: source records become invocations exactly once, in
 * source order per key, across crashes of the relay's transaction and offset resets; bad
 * records are dead-lettered with their coordinates and the subscription goes on.
 */
import { afterEach, describe, expect, it } from "vitest";
import { object, service, shared } from "../../sdk/definitions.js";
import type { ObjectContext } from "../../sdk/context.js";
import { avro } from "../../sdk/avro_format.js";
import { Runtime, type RuntimeOptions } from "../../runtime/runtime.js";
import { decoder, subscribe, type Subscription } from "../../runtime/ingress/subscription.js";
import { H } from "../../runtime/invocation/headers.js";
import { SOURCE_HEADERS } from "../../runtime/ingress/source_headers.js";
import type { AvroPayloads } from "../../runtime/payload/avro_port.js";
import { SchemaRegistryAvroPayloads } from "../../connectors/schema_registry/avro_payloads.js";
import { MemoryLog, MemoryTransport, type CrashPlan } from "../support/memory_log.js";
import { quietLogger } from "../support/memory_app.js";
import { FakeSchemaRegistry } from "../support/fake_schema_registry.js";
import { waitFor } from "../support/wait.js";

interface Seen {
  seq: number;
  source: { topic: string; partition: number; offset: number; key: string | null } | null;
}

const runs: Seen[] = [];
const inputs: unknown[] = [];
const account = object({
  name: "Acc",
  handlers: {
    async add(ctx: ObjectContext, input: { seq: number; amount: number }) {
      inputs.push(input);
      const s = ctx.request.source;
      runs.push({
        seq: input.seq,
        source: s ? { topic: s.topic, partition: s.partition, offset: s.offset, key: s.key?.toString() ?? null } : null,
      });
      const last = (await ctx.get<number>("lastSeq")) ?? -1;
      if (input.seq <= last) ctx.set("outOfOrder", ((await ctx.get<number>("outOfOrder")) ?? 0) + 1);
      ctx.set("lastSeq", input.seq);
      ctx.set("total", ((await ctx.get<number>("total")) ?? 0) + input.amount);
      ctx.set("count", ((await ctx.get<number>("count")) ?? 0) + 1);
      ctx.emit("out", { key: ctx.key, value: { seq: input.seq } });
    },
    total: shared(async (ctx): Promise<number | null> => ctx.get<number>("total")),
  },
});
const sink = service({
  name: "Sink",
  handlers: {
    async take(_ctx, input: unknown) {
      runs.push({ seq: -1, source: null });
      return input;
    },
  },
});

const running: Runtime[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.stop().catch(() => undefined)));
  runs.length = 0;
  inputs.length = 0;
});

function app(
  log: MemoryLog,
  subscriptions: Subscription[],
  extra: { crash?: CrashPlan | null; avroPayloads?: AvroPayloads; options?: Partial<RuntimeOptions> } = {},
): { runtime: Runtime; relayTransports: MemoryTransport[] } {
  const relayTransports: MemoryTransport[] = [];
  const main = new MemoryTransport(log, "m.invocations", "m.changelog");
  const runtime = new Runtime(
    { app: "m", partitions: 3, logger: quietLogger, objects: [account], services: [sink], subscriptions, ...extra.options },
    main,
    {
      ...(extra.avroPayloads && { avroPayloads: extra.avroPayloads }),
      subscriptionTransport: (s) => {
        const t = new MemoryTransport(log, s.topic, "m.source-offsets", extra.crash ?? null, s.groupId);
        // the whole process dies with its relay (SIGKILL): its processors stop too
        t.onCrash = () => void (main.dead = true);
        relayTransports.push(t);
        return t;
      },
    },
  );
  running.push(runtime);
  return { runtime, relayTransports };
}

function produce(log: MemoryLog, topic: string, records: Array<{ key: string | null; value: unknown; partition?: number }>): void {
  for (const r of records) {
    log.append(topic, {
      key: r.key === null ? null : Buffer.from(r.key),
      value: r.value === undefined ? null : Buffer.isBuffer(r.value) ? r.value : Buffer.from(JSON.stringify(r.value)),
      ...(r.partition !== undefined && { partition: r.partition }),
    });
  }
  log.notify();
}

function outputs(log: MemoryLog): Array<{ key: string; seq: number }> {
  return log
    .partitions("out")
    .flat()
    .map((r) => ({ key: r.key!.toString(), seq: (JSON.parse(r.value!.toString()) as { seq: number }).seq }));
}

function dlq(log: MemoryLog): Array<{ code: string; topic: string; partition: string; offset: string; subscription: string }> {
  return log
    .partitions("m.dlq")
    .flat()
    .map((r) => ({
      code: r.headers[H.errorCode]!.toString(),
      topic: r.headers[H.dlqSourceTopic]!.toString(),
      partition: r.headers[H.dlqSourcePartition]!.toString(),
      offset: r.headers[H.dlqSourceOffset]!.toString(),
      subscription: r.headers[SOURCE_HEADERS.subscription]!.toString(),
    }));
}

function workload(keys: number, perKey: number): Array<{ key: string; value: { seq: number; amount: number } }> {
  const records: Array<{ key: string; value: { seq: number; amount: number } }> = [];
  for (let seq = 0; seq < perKey; seq++) for (let k = 0; k < keys; k++) records.push({ key: `k${k}`, value: { seq, amount: k + 1 } });
  return records;
}

function setUp(): MemoryLog {
  const log = new MemoryLog();
  log.createTopic("src", 4);
  log.createTopic("out", 2);
  return log;
}

describe("subscriptions", () => {
  it("turns every source record into one invocation with its source coordinates, in order per key", async () => {
    const log = setUp();
    produce(log, "src", workload(10, 20));
    const { runtime } = app(log, [subscribe({ topic: "src", to: [account, "add"] })]);
    await runtime.start();
    await waitFor(() => outputs(log).length === 200, "200 outputs");
    expect(runs).toHaveLength(200);
    const bySeq = new Map<string, number[]>();
    for (const o of outputs(log)) bySeq.set(o.key, [...(bySeq.get(o.key) ?? []), o.seq]);
    for (const seqs of bySeq.values()) expect(seqs).toEqual([...Array(20).keys()]);
    const first = runs[0]!.source!;
    expect(first.topic).toBe("src");
    expect(first.key).toMatch(/^k\d$/);
    expect(new Set(runs.map((r) => `${r.source!.partition}:${r.source!.offset}`)).size).toBe(200);
    const stats = runtime.stats().subscriptions[0]!;
    expect(stats).toMatchObject({ name: "src.Acc.add", groupId: "m.sub.src.Acc.add", state: "running", relayed: 200 });
  });

  it("runs nothing again when the subscription's offsets are reset to the beginning", async () => {
    const log = setUp();
    produce(log, "src", workload(5, 10));
    const first = app(log, [subscribe({ topic: "src", to: [account, "add"] })]);
    await first.runtime.start();
    await waitFor(() => outputs(log).length === 50, "50 outputs");
    await first.runtime.stop();
    log.offsetsOf("m.sub.src.Acc.add").clear(); // like kafka-consumer-groups --reset-offsets --to-earliest
    produce(log, "src", [{ key: "k0", value: { seq: 10, amount: 1 } }]);
    const second = app(log, [subscribe({ topic: "src", to: [account, "add"] })]);
    await second.runtime.start();
    await waitFor(() => outputs(log).length === 51, "the one new record");
    await waitFor(() => second.runtime.stats().subscriptions[0]!.skippedDuplicates === 50, "50 skipped");
    expect(runs).toHaveLength(51);
    expect(second.runtime.stats().subscriptions[0]!.relayed).toBe(1);
  });

  it("relays exactly once when the relay dies at any of its commits", async () => {
    const records = workload(6, 15);
    for (let atCommit = 1; atCommit <= 6; atCommit++) {
      for (const afterApply of [false, true]) {
        const log = setUp();
        runs.length = 0;
        // small transactions so the relay commits many times
        const options = { maxTransactionRecords: 10 };
        const doomed = app(log, [subscribe({ topic: "src", to: [account, "add"] })], { crash: { atCommit, afterApply }, options });
        await doomed.runtime.start();
        // in waves, so that the relay commits several times (one delivery commits at once)
        for (let from = 0; from < records.length; from += 15) {
          produce(log, "src", records.slice(from, from + 15));
          await new Promise((r) => setTimeout(r, 5));
        }
        await waitFor(() => doomed.relayTransports[0]!.dead, `relay crash at commit ${atCommit}`);
        running.splice(running.indexOf(doomed.runtime), 1); // dead: never stopped gracefully
        const next = app(log, [subscribe({ topic: "src", to: [account, "add"] })], { options });
        await next.runtime.start();
        await waitFor(() => outputs(log).length >= records.length, `outputs after crash at ${atCommit}/${afterApply}`);
        await new Promise((r) => setTimeout(r, 20));
        const seen = outputs(log).map((o) => `${o.key}:${o.seq}`);
        expect(new Set(seen).size, `crash at commit ${atCommit} ${afterApply ? "after" : "before"} apply`).toBe(records.length);
        expect(seen).toHaveLength(records.length);
        await next.runtime.stop();
      }
    }
  }, 60_000);

  it("dead-letters bad records with their coordinates and goes on", async () => {
    const log = setUp();
    log.append("src", { partition: 0, key: Buffer.from("k1"), value: Buffer.from("{not json") });
    log.append("src", { partition: 0, key: null, value: Buffer.from(JSON.stringify({ seq: 0, amount: 1 })) });
    log.append("src", { partition: 0, key: Buffer.from([0xff, 0xfe]), value: Buffer.from(JSON.stringify({ seq: 0, amount: 1 })) });
    log.append("src", { partition: 0, key: Buffer.from("k1"), value: Buffer.from(JSON.stringify({ seq: 0, amount: 5 })) });
    log.notify();
    const { runtime } = app(log, [subscribe({ topic: "src", to: [account, "add"] })]);
    await runtime.start();
    await waitFor(() => outputs(log).length === 1 && dlq(log).length === 3, "1 output, 3 dead letters");
    expect(dlq(log).sort((a, b) => Number(a.offset) - Number(b.offset))).toEqual([
      { code: "invalid_input", topic: "src", partition: "0", offset: "0", subscription: "src.Acc.add" },
      { code: "missing_key", topic: "src", partition: "0", offset: "1", subscription: "src.Acc.add" },
      { code: "invalid_key", topic: "src", partition: "0", offset: "2", subscription: "src.Acc.add" },
    ]);
    expect(runtime.stats().subscriptions[0]).toMatchObject({ relayed: 1, deadLettered: 3 });
  });

  it("keys by a field, filters, decodes with a custom decoder, and feeds two subscriptions from one topic", async () => {
    const log = setUp();
    const csv = decoder((value) => {
      const [device, seq, amount] = value!.toString().split(",");
      if (amount === undefined) throw new Error("expected device,seq,amount");
      return { device, seq: Number(seq), amount: Number(amount) };
    });
    for (const line of ["d1,0,5", "d2,0,7", "d1,1,-3", "broken", "d1,2,4"])
      log.append("src", { partition: 1, key: null, value: Buffer.from(line) });
    log.notify();
    const { runtime } = app(log, [
      subscribe({
        topic: "src",
        to: [account, "add"],
        value: csv,
        key: { field: "device" },
        filter: (v) => (v as { amount: number }).amount > 0,
      }),
      subscribe({ topic: "src", to: [sink, "take"], name: "raw", value: "string" }),
    ]);
    await runtime.start();
    await waitFor(() => outputs(log).length === 3 && runs.filter((r) => r.seq === -1).length === 5, "3 outputs, 5 raw");
    expect(
      outputs(log)
        .map((o) => `${o.key}:${o.seq}`)
        .sort(),
    ).toEqual(["d1:0", "d1:2", "d2:0"]);
    expect(dlq(log).map((d) => [d.code, d.offset])).toEqual([["decode_failed", "3"]]);
    const [main, raw] = runtime.stats().subscriptions;
    expect(main).toMatchObject({ relayed: 3, filtered: 1, deadLettered: 1 });
    expect(raw).toMatchObject({ name: "raw", relayed: 5 });
  });

  it("filters before it keys: records the filter drops need no key; an object-valued key field is invalid_key", async () => {
    const log = setUp();
    produce(log, "src", [
      { key: null, value: { type: "heartbeat" }, partition: 0 },
      { key: null, value: { type: "order", customer: "c1", seq: 0, amount: 3 }, partition: 0 },
      { key: null, value: { type: "order", customer: { id: "c1" }, seq: 1, amount: 3 }, partition: 0 },
    ]);
    const { runtime } = app(log, [
      subscribe({
        topic: "src",
        to: [account, "add"],
        key: { field: "customer" },
        filter: (v) => (v as { type: string }).type === "order",
      }),
    ]);
    await runtime.start();
    await waitFor(() => outputs(log).length === 1 && dlq(log).length === 1, "1 output, 1 dead letter");
    expect(dlq(log).map((d) => [d.code, d.offset])).toEqual([["invalid_key", "2"]]);
    expect(runtime.stats().subscriptions[0]).toMatchObject({ relayed: 1, filtered: 1, deadLettered: 1 });
  });

  it("waits for a missing topic and starts once it exists", async () => {
    const log = setUp();
    const events: string[] = [];
    const { runtime } = app(log, [subscribe({ topic: "later", to: [account, "add"] })]);
    runtime.on("subscription.waiting", (e) => events.push(e.message));
    await runtime.start();
    await waitFor(() => runtime.stats().subscriptions[0]!.state === "waiting-for-topic", "waiting state");
    expect(events[0]).toContain("topic later does not exist");
    log.createTopic("later", 1);
    produce(log, "later", [{ key: "k1", value: { seq: 0, amount: 1 } }]);
    await waitFor(() => outputs(log).length === 1, "the record of the late topic", 5_000);
  });

  it("refuses bad declarations with a clear error", () => {
    const log = setUp();
    const cases: Array<[Subscription, RegExp]> = [
      [subscribe({ topic: "m.changelog", to: [account, "add"] }), /runtime's own topics/],
      [subscribe({ topic: "bad topic", to: [account, "add"] }), /not a valid Kafka topic name/],
      [subscribe({ topic: "src", to: [account, "nope" as "add"] }), /has no handler "nope"/],
      [subscribe({ topic: "src", to: [account, "add"], key: { field: "" } }), /key must be/],
    ];
    for (const [subscription, message] of cases) expect(() => app(log, [subscription])).toThrow(message);
    expect(() => app(log, [subscribe({ topic: "src", to: [account, "add"] }), subscribe({ topic: "src", to: [account, "add"] })])).toThrow(
      /two subscriptions are named "src.Acc.add"/,
    );
  });

  it("decodes Avro through the registry, retrying (never dead-lettering) while the registry is down", async () => {
    const registry = await new FakeSchemaRegistry().start();
    try {
      const payloads = new SchemaRegistryAvroPayloads({ url: registry.url });
      const schema = {
        type: "record",
        name: "Reading",
        fields: [
          { name: "device", type: "string" },
          { name: "seq", type: "int" },
          { name: "amount", type: "double" },
          { name: "raw", type: "bytes" },
        ],
      };
      const log = setUp();
      const encoded = await payloads.encode("src-value", schema, { device: "d1", seq: 0, amount: 2.5, raw: Buffer.from([1, 2]) });
      const fresh = new SchemaRegistryAvroPayloads({ url: registry.url }); // nothing cached
      registry.failWith = 503;
      log.append("src", { partition: 2, key: Buffer.from("d1"), value: encoded });
      log.append("src", { partition: 2, key: Buffer.from("d1"), value: Buffer.from([0, 0, 0, 0x7f, 0x7f, 1]) });
      log.notify();
      const seen: unknown[] = [];
      const { runtime } = app(log, [subscribe({ topic: "src", to: [account, "add"], value: avro() })], { avroPayloads: fresh });
      runtime.on("invocation.end", () => seen.push(1));
      await runtime.start();
      await new Promise((r) => setTimeout(r, 300));
      expect(dlq(log)).toEqual([]);
      expect(outputs(log)).toEqual([]);
      registry.failWith = undefined;
      await waitFor(() => outputs(log).length === 1 && dlq(log).length === 1, "the good record and the unknown id", 10_000);
      expect(dlq(log)[0]).toMatchObject({ code: "unknown_schema_id", offset: "1" });
      // a plain object, bytes as base64
      expect(inputs).toEqual([{ device: "d1", seq: 0, amount: 2.5, raw: Buffer.from([1, 2]).toString("base64") }]);
    } finally {
      await registry.stop();
    }
  });
});
