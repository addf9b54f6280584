/**
 * ctx.emit: records written to other topics in the transaction that completes the invocation,
 * only when it succeeds (docs/design.md, "Egress").
 */
import { describe, expect, it } from "vitest";
import { object, service, shared, TerminalError, type ObjectContext, type SharedObjectContext } from "../../index.js";
import type { FailureRecord } from "../../runtime/codec/records.js";
import { Batch, LazyWrite } from "../../runtime/commit/batch.js";
import type { CommitSink } from "../../runtime/commit/sink.js";
import { MAX_EMITS_PER_INVOCATION } from "../../runtime/egress/emit.js";
import { H } from "../../runtime/invocation/headers.js";
import { ReplyTopics } from "../../runtime/invocation/reply_topics.js";
import type { OutboundRecord } from "../../runtime/log/log.js";
import { PartitionProcessor } from "../../runtime/partition/processor.js";
import { PartitionState } from "../../runtime/partition/state.js";
import { Registry } from "../../runtime/registry.js";
import { systemClock } from "../../runtime/support.js";
import { MemoryApp, quietLogger } from "../support/memory_app.js";
import { waitFor } from "../support/wait.js";

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** A MemoryApp with an output topic, recording the records of every commit. */
async function startApp(defs: ConstructorParameters<typeof MemoryApp>[0], options: ConstructorParameters<typeof MemoryApp>[1] = {}) {
  const app = new MemoryApp(defs, options);
  app.log.createTopic("out", 3);
  const commits: OutboundRecord[][] = [];
  const realCommit = app.transport.commit.bind(app.transport);
  app.transport.commit = async (batch) => {
    commits.push([...batch.records]);
    return realCommit(batch);
  };
  await app.start();
  const out = () => app.log.partitions("out").flat();
  return { app, commits, out };
}

const text = (b: Buffer | null | undefined) => (b === null || b === undefined ? null : b.toString("utf8"));

describe("ctx.emit writes records with the completion, only on success", () => {
  it("writes nothing while the invocation runs, then its records in the commit that holds its state change", async () => {
    const gate = deferred();
    const o = object({
      name: "Order",
      handlers: {
        place: async (ctx: ObjectContext, item: string) => {
          ctx.set("item", item);
          ctx.emit("out", { key: ctx.key, value: { placed: item } });
          await ctx.run("first", () => 1); // a journal commit while the emit is pending
          await ctx.run("wait", () => gate.promise);
          ctx.emit("out", { key: ctx.key, value: { confirmed: item } });
          return "ok";
        },
      },
    });
    const { app, commits, out } = await startApp({ objects: [o] });
    const corr = app.send("Order/o1", "place", "book");
    await waitFor(() => commits.length >= 1, "the journal commit of step first");
    expect(out(), "no record is visible before the invocation completes").toHaveLength(0);
    gate.resolve();
    expect((await app.reply(corr)).status).toBe("ok");

    expect(out().map((r) => [text(r.key), text(r.value)])).toEqual([
      ["o1", '{"placed":"book"}'],
      ["o1", '{"confirmed":"book"}'],
    ]);
    const withEmits = commits.filter((c) => c.some((r) => r.topic === "out"));
    expect(withEmits, "both records in one transaction").toHaveLength(1);
    const stateKey = JSON.stringify(["st", "Order", "o1", "item"]);
    expect(
      withEmits[0]!.some((r) => r.topic === "m.changelog" && text(r.key) === stateKey && r.value !== null),
      "with the state change",
    ).toBe(true);
    expect(
      withEmits[0]!.some((r) => r.topic === "replies"),
      "and the reply",
    ).toBe(true);
    await app.runtime.stop();
  });

  it("writes nothing for an invocation that fails after emitting", async () => {
    const o = object({
      name: "Bad",
      handlers: {
        go: async (ctx: ObjectContext) => {
          ctx.emit("out", { key: "x", value: 1 });
          ctx.set("s", 1);
          throw new TerminalError("refused", { code: "refused" });
        },
        fine: async (ctx: ObjectContext) => ctx.emit("out", { key: "y", value: 2 }),
      },
    });
    const { app, out } = await startApp({ objects: [o] });
    expect((await app.reply(app.send("Bad/1", "go"))).errorCode).toBe("refused");
    // a later invocation of the same partition commits: the failed one's record still is not there
    expect((await app.reply(app.send("Bad/1", "fine"))).status).toBe("ok");
    expect(out().map((r) => text(r.key))).toEqual(["y"]);
    await app.runtime.stop();
  });

  it("writes the records of the attempt that succeeded, once", async () => {
    let attempts = 0;
    const o = object({
      name: "Flaky",
      handlers: {
        go: async (ctx: ObjectContext) => {
          attempts++;
          ctx.emit("out", { key: "k", value: `attempt ${ctx.request.attempt}` });
          if (attempts < 3) throw new Error(`transient ${attempts}`);
          return attempts;
        },
      },
      options: { retry: { initialIntervalMs: 1, maxAttempts: 5 } },
    });
    const { app, out } = await startApp({ objects: [o] });
    expect((await app.reply(app.send("Flaky/1", "go"))).value).toBe(3);
    expect(out().map((r) => text(r.value))).toEqual(['"attempt 3"']);
    await app.runtime.stop();
  });

  it("lets services emit; records with one key share a partition", async () => {
    const s = service({
      name: "Fanout",
      handlers: {
        go: async (ctx, n: number) => {
          for (let i = 0; i < n; i++) ctx.emit("out", { key: `k${i % 2}`, value: i, headers: { seq: String(i) } });
          return n;
        },
      },
    });
    const { app, out } = await startApp({ services: [s] });
    expect((await app.reply(app.send("Fanout", "go", 6))).status).toBe("ok");
    const records = out();
    expect(records.map((r) => text(r.headers.seq ?? null)).sort()).toEqual(["0", "1", "2", "3", "4", "5"]);
    for (const key of ["k0", "k1"]) {
      expect(new Set(records.filter((r) => text(r.key) === key).map((r) => r.partition)).size).toBe(1);
    }
    await app.runtime.stop();
  });
});

describe("ctx.emit formats", () => {
  it("encodes json (default), string and bytes; null is a tombstone in string and bytes", async () => {
    const o = object({
      name: "Fmt",
      handlers: {
        go: async (ctx: ObjectContext) => {
          ctx.emit("out", { key: "json", value: { a: [1, "b"] } });
          ctx.emit("out", { key: "json-null", value: null });
          ctx.emit("out", { key: "string", value: "plain text" }, { format: "string" });
          ctx.emit("out", { key: Buffer.from("bytes"), value: Buffer.from([0, 255, 7]) }, { format: "bytes" });
          ctx.emit("out", { key: "tomb", value: null }, { format: "bytes" });
        },
      },
    });
    const { app, out } = await startApp({ objects: [o] });
    expect((await app.reply(app.send("Fmt/1", "go"))).status).toBe("ok");
    const byKey = new Map(out().map((r) => [text(r.key), r.value]));
    expect(text(byKey.get("json"))).toBe('{"a":[1,"b"]}');
    expect(text(byKey.get("json-null"))).toBe("null");
    expect(text(byKey.get("string"))).toBe("plain text");
    expect(byKey.get("bytes")).toEqual(Buffer.from([0, 255, 7]));
    expect(byKey.has("tomb") && byKey.get("tomb")).toBe(null);
    await app.runtime.stop();
  });

  it("refuses a value of the wrong type for its format with invalid_emit", async () => {
    const cases: Array<[string, (ctx: ObjectContext) => void, RegExp]> = [
      ["undefined json", (ctx) => ctx.emit("out", { value: undefined }), /value is undefined/],
      ["bigint json", (ctx) => ctx.emit("out", { value: 1n }), /not JSON-serializable/],
      ["number as string", (ctx) => ctx.emit("out", { value: 5 }, { format: "string" }), /format "string" needs a string/],
      ["string as bytes", (ctx) => ctx.emit("out", { value: "x" }, { format: "bytes" }), /format "bytes" needs a Buffer/],
      ["numeric key", (ctx) => ctx.emit("out", { key: 5 as unknown as string, value: 1 }), /key must be a string/],
      ["numeric header", (ctx) => ctx.emit("out", { value: 1, headers: { n: 1 as unknown as string } }), /header "n" must be a string/],
    ];
    const o = object({
      name: "Wrong",
      handlers: Object.fromEntries(cases.map(([name, act]) => [name.replace(/ /g, "_"), async (ctx: ObjectContext) => act(ctx)])),
    });
    const { app, out } = await startApp({ objects: [o] });
    for (const [name, , message] of cases) {
      const r = await app.reply(app.send("Wrong/1", name.replace(/ /g, "_")));
      expect(r.errorCode, name).toBe("invalid_emit");
      expect(r.errorMessage, name).toMatch(message);
      expect(r.errorMessage, name).toMatch(/Wrong\/1 \(invocation .*\): ctx\.emit\("out"\)/);
    }
    expect(out()).toHaveLength(0);
    await app.runtime.stop();
  });
});

describe("ctx.emit refusals", () => {
  it("has no ctx.emit in the type of a shared handler's context", () => {
    const sharedHandler = (ctx: SharedObjectContext) => {
      // @ts-expect-error shared handlers are read-only: they cannot emit
      // eslint-disable-next-line @typescript-eslint/no-unsafe-call -- the call does not type-check on purpose
      ctx.emit("out", { value: 1 });
    };
    expect(sharedHandler).toBeTypeOf("function");
  });

  it("refuses the app's own topics, Kafka internal topics, invalid names, oversized records and too many emits", async () => {
    const o = object({
      name: "Ref",
      handlers: {
        to: async (ctx: ObjectContext, topic: string) => ctx.emit(topic, { value: 1 }),
        big: async (ctx: ObjectContext) => ctx.emit("out", { key: "k", value: "x".repeat(20_000) }, { format: "string" }),
        many: async (ctx: ObjectContext) => {
          for (let i = 0; i <= MAX_EMITS_PER_INVOCATION; i++) ctx.emit("out", { value: i });
        },
        heavy: async (ctx: ObjectContext) => {
          for (let i = 0; i < 600; i++) ctx.emit("out", { value: "x".repeat(15_000) }, { format: "string" });
        },
        caught: async (ctx: ObjectContext) => {
          try {
            ctx.emit("m.changelog", { value: 1 });
          } catch (e) {
            ctx.emit("out", { key: "after-refusal", value: (e as TerminalError).code });
          }
        },
        peek: shared(async (ctx) => (ctx as unknown as ObjectContext).emit("out", { value: 1 })),
      },
    });
    const { app, out } = await startApp({ objects: [o] }, { maxRecordBytes: 16 * 1024 });
    app.log.createTopic("__consumer_offsets", 1);
    for (const topic of ["m.invocations", "m.changelog", "m.dlq", "__consumer_offsets", "__anything"]) {
      const r = await app.reply(app.send("Ref/1", "to", topic));
      expect(r.errorCode, topic).toBe("reserved_emit_topic");
      expect(r.errorMessage, topic).toMatch(/one of the app's own topics .* Emit to a topic of your own/);
    }
    for (const topic of ["", "bad topic", "..", "x".repeat(250)]) {
      expect((await app.reply(app.send("Ref/1", "to", topic))).errorCode, topic).toBe("invalid_emit_topic");
    }
    const big = await app.reply(app.send("Ref/1", "big"));
    expect(big.errorCode).toBe("record_too_large");
    expect(big.errorMessage).toMatch(/ctx\.emit\("out"\): the record \(key, value and headers\) is 20001 bytes, above the limit of 16384/);
    const many = await app.reply(app.send("Ref/1", "many"));
    expect(many.errorCode).toBe("too_many_emits");
    expect(many.errorMessage).toMatch(/emit number 1001, above the limit of 1000 per invocation/);
    const heavy = await app.reply(app.send("Ref/1", "heavy"));
    expect(heavy.errorCode).toBe("too_many_emits");
    expect(heavy.errorMessage).toMatch(/above the limit of 8388608 bytes per invocation/);
    const peek = await app.reply(app.send("Ref/1", "peek"));
    expect(peek.errorCode).toBe("shared_handler_write");
    expect(peek.errorMessage).toMatch(/ctx\.emit\(\) was called in shared handler Ref\/1/);
    // a refusal is thrown at the call: a handler may catch it and go on
    expect((await app.reply(app.send("Ref/1", "caught"))).status).toBe("ok");
    expect(out().map((r) => [text(r.key), text(r.value)])).toEqual([["after-refusal", '"reserved_emit_topic"']]);
    await app.runtime.stop();
  });
});

describe("ctx.emit to a topic that does not exist", () => {
  /** A processor alone (the lookup hook is what the runtime wires to ReplyTopics.refresh). */
  function processorWith(existing: Set<string>) {
    const emitted: OutboundRecord[] = [];
    const sink: CommitSink = {
      putChangelog: () => ({}),
      putChangelogLazy: (partition, estimate, encode) => new LazyWrite(new Batch(), partition, estimate, encode),
      retractLazy: () => true,
      retract: () => false,
      emit: (r) => emitted.push(r),
      consumed: () => undefined,
      durable: () => Promise.resolve(),
      stepBoundary: () => undefined,
    };
    const lookups: string[][] = [];
    const topics = new ReplyTopics(
      async (names) => {
        lookups.push(names);
        return new Set(names.filter((n) => existing.has(n)));
      },
      systemClock,
      quietLogger,
      { reserved: ["p.invocations", "p.changelog", "p.dlq"], existingTtlMs: 60_000 },
    );
    const o = object({
      name: "Out",
      handlers: {
        go: async (ctx: ObjectContext, topics: string[]) => {
          for (const t of topics) ctx.emit(t, { key: ctx.key, value: t });
          ctx.set("done", true);
        },
      },
    });
    const ended: Array<FailureRecord | null> = [];
    const processor = new PartitionProcessor(
      {
        partition: 0,
        invocationsTopic: "p.invocations",
        dlqTopic: "p.dlq",
        registry: new Registry([o]),
        sink,
        clock: systemClock,
        logger: quietLogger,
        idempotencyRetentionMs: 60_000,
        nextOffset: 0n,
        maxInFlight: 100,
        maxInFlightBytes: 1 << 20,
        maxOutcomes: 100,
        maxOutcomeBytes: 1 << 20,
        maxReplyTargets: 10,
        maxRecordBytes: 100_000,
        replyTopicStatus: (t) => topics.status(t),
        lookUpTopics: (names) => topics.refresh(names),
        onCompleted: (_inv, failure) => ended.push(failure),
      },
      new PartitionState(),
    );
    processor.start();
    let offset = 0n;
    const invoke = async (emitTo: string[]): Promise<FailureRecord | null> => {
      const before = ended.length;
      processor.ingest({
        partition: 0,
        offset: offset++,
        key: Buffer.from("Out/a"),
        value: Buffer.from(JSON.stringify(emitTo)),
        headers: { [H.handler]: Buffer.from("go") },
        timestamp: Date.now(),
      });
      await waitFor(() => ended.length > before, "the invocation to end");
      return ended[before]!;
    };
    return { invoke, emitted, lookups, close: () => processor.close() };
  }

  it("looks unknown topics up when the invocation completes and fails it with unknown_emit_topic, writing none of its records", async () => {
    const p = processorWith(new Set(["exists"]));
    const failure = await p.invoke(["exists", "nope"]);
    expect(failure?.code).toBe("unknown_emit_topic");
    expect(failure?.message).toMatch(/Out\/a\.go \(invocation .*\): ctx\.emit\("nope"\): topic "nope" does not exist.*Create the topic/);
    expect(p.emitted).toHaveLength(0);
    expect(p.lookups).toEqual([["exists", "nope"]]);

    expect(await p.invoke(["exists"])).toBe(null);
    expect(p.emitted.map((r) => [r.topic, text(r.key), text(r.value)])).toEqual([["exists", "a", '"exists"']]);
    expect(p.lookups, "known topics are not looked up again").toHaveLength(1);
    p.close();
  });
});

describe("ctx.emit through the runtime", () => {
  it("fails an invocation that emitted to a missing topic with unknown_emit_topic, and the partition goes on", async () => {
    const o = object({
      name: "Out",
      handlers: {
        to: async (ctx, topic: string) => {
          ctx.set("tried", topic);
          ctx.emit(topic, { key: ctx.key, value: { hello: topic } });
          return topic;
        },
      },
    });
    const { app, out } = await startApp({ objects: [o] });
    const missing = await app.reply(app.send("Out/a", "to", "no-such-topic"));
    expect(missing.status).toBe("failed");
    expect(missing.errorCode).toBe("unknown_emit_topic");
    const ok = await app.reply(app.send("Out/a", "to", "out"));
    expect(ok.value).toBe("out");
    expect(out().map((r) => text(r.value))).toEqual(['{"hello":"out"}']);
    await app.runtime.stop();
  });
});
