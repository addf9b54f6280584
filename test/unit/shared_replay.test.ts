import { describe, expect, it } from "vitest";
import { object, shared } from "../../index.js";
import { codecFromFiles } from "../../runtime/codec/avro.js";
import { encodeChangelogKey } from "../../runtime/codec/changelog_key.js";
import {
  codecs,
  type InvocationRecord,
  type JournalEntryRecord,
  type JournalKind,
  type JournalRecord,
} from "../../runtime/codec/records.js";
import { Runtime } from "../../runtime/runtime.js";
import { MemoryApp, quietLogger } from "../support/memory_app.js";
import { MemoryLog, MemoryTransport } from "../support/memory_log.js";
import { waitFor } from "../support/wait.js";
import { H } from "../../runtime/invocation/headers.js";

function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Every journal version ever written to the changelog, decoded, with its schema version byte. */
function journalsWritten(log: MemoryLog, topic: string): Array<{ version: number; kinds: string[] }> {
  return log
    .partitions(topic)
    .flat()
    .filter((r) => r.value !== null && (JSON.parse(r.key!.toString()) as string[])[0] === "jnl")
    .map((r) => ({ version: r.value![0]!, kinds: codecs.journal.decode(r.value!).entries.map((e) => e.kind) }));
}

/**
 * A shared handler that branches on what it reads, then takes a durable step. `hold` keeps
 * the first attempt suspended after its step committed, so the test can change the state
 * underneath it before the replay.
 */
function ledger(hold: (attempt: number) => Promise<void>) {
  let attempts = 0;
  return object({
    name: "Ledger",
    handlers: {
      put: async (ctx, n: number) => {
        ctx.set("n", n);
        return n;
      },
      report: shared(async (ctx) => {
        const attempt = ++attempts;
        const n = (await ctx.get<number>("n")) ?? 0;
        const names = await ctx.stateKeys();
        const step = await ctx.run(n > 0 ? "positive" : "zero", () => `saw ${n}`);
        await hold(attempt);
        return { n, names, step };
      }),
    },
    options: { retry: { initialIntervalMs: 1, maxAttempts: 3 } },
  });
}

describe("shared handlers replay what they read", () => {
  it("a retried shared handler sees the values its first attempt read, not the state an exclusive write changed since", async () => {
    const reachedHold = deferred();
    const release = deferred();
    const def = ledger(async (attempt) => {
      if (attempt > 1) return;
      reachedHold.resolve();
      await release.promise;
      throw new Error("transient failure after the step"); // retried
    });
    const app = new MemoryApp({ objects: [def] });
    await app.start();
    const report = app.send("Ledger/acct", "report");
    await reachedHold.promise; // its "zero" step is journaled
    expect((await app.reply(app.send("Ledger/acct", "put", 5))).value).toBe(5); // shared does not block the key
    release.resolve();
    const r = await app.reply(report);
    expect(r.errorMessage).toBeUndefined();
    expect(r).toMatchObject({ status: "ok", value: { n: 0, names: [], step: "saw 0" } });
    await app.runtime.stop();

    // What was journaled: the shared reads (schema v2), written along with the step.
    const written = journalsWritten(app.log, "m.changelog");
    expect(written).toContainEqual({ version: 2, kinds: ["get", "keys", "run"] });
  });

  it("a shared handler restored on another process replays its journaled reads", async () => {
    const log = new MemoryLog();
    log.createTopic("replies", 1);
    const reachedHold = deferred();
    const newRuntime = (hold: (attempt: number) => Promise<void>) =>
      new Runtime(
        { app: "m", partitions: 2, logger: quietLogger, objects: [ledger(hold)] },
        new MemoryTransport(log, "m.invocations", "m.changelog"),
      );
    const send = (handler: string, corr: string, input?: unknown) => {
      log.append("m.invocations", {
        key: Buffer.from("Ledger/acct"),
        value: input === undefined ? null : Buffer.from(JSON.stringify(input)),
        headers: { [H.handler]: Buffer.from(handler), [H.replyTo]: Buffer.from("replies"), [H.correlationId]: Buffer.from(corr) },
      });
      log.notify();
    };
    const reply = async (corr: string) => {
      const find = () =>
        log
          .partitions("replies")
          .flat()
          .find((r) => r.headers[H.correlationId]?.toString() === corr);
      await waitFor(() => find() !== undefined, `reply ${corr}`);
      const r = find()!;
      return {
        status: r.headers[H.status]!.toString(),
        error: r.headers[H.errorMessage]?.toString(),
        value: r.value?.length ? (JSON.parse(r.value.toString()) as unknown) : undefined,
      };
    };

    // First process: the shared handler commits its step, then hangs; an exclusive write lands.
    const first = newRuntime(async () => {
      reachedHold.resolve();
      await new Promise(() => {});
    });
    await first.start();
    send("report", "report");
    await reachedHold.promise;
    send("put", "put", 7);
    expect((await reply("put")).value).toBe(7);
    await first.stop(); // the report invocation stays in flight in the changelog

    // Second process: restores n = 7 and the report's journal; the replay must take "zero" again.
    const second = newRuntime(async () => {});
    await second.start();
    const r = await reply("report");
    expect(r.error).toBeUndefined();
    expect(r).toMatchObject({ status: "ok", value: { n: 0, names: [], step: "saw 0" } });
    await second.stop();
  });

  it("replays a shared invocation in flight across the upgrade, whose journal (v1) holds steps but no reads", async () => {
    const log = new MemoryLog();
    log.createTopic("replies", 1);
    log.createTopic("m.changelog", 2);
    const id = "p0-o0";
    const inv: InvocationRecord = {
      id,
      target: "Ledger",
      key: "acct",
      handler: "report",
      input: null,
      headers: {},
      replyTo: [{ topic: "replies", correlationId: "legacy" }],
      seq: 0n,
      idempotencyKey: null,
      attempt: 1,
      lastError: null,
      acceptedAt: 0,
    };
    // What the previous version left: the step, not the ctx.get/ctx.stateKeys before it.
    const v1 = codecFromFiles<JournalRecord>("journal", { 1: "journal.v1.avsc" });
    const legacyJournal = v1.encode({
      invocationId: id,
      entries: [{ kind: "run", name: "zero", value: Buffer.from('"saw 0"'), failure: null }],
    });
    log.append("m.changelog", {
      partition: 0,
      key: Buffer.from(encodeChangelogKey({ type: "inv", id })),
      value: codecs.invocation.encode(inv),
    });
    log.append("m.changelog", { partition: 0, key: Buffer.from(encodeChangelogKey({ type: "jnl", id })), value: legacyJournal });
    const runtime = new Runtime(
      { app: "m", partitions: 2, logger: quietLogger, objects: [ledger(async () => {})] },
      new MemoryTransport(log, "m.invocations", "m.changelog"),
    );
    await runtime.start();
    await waitFor(() => log.partitions("replies").flat().length === 1, "the reply");
    const reply = log.partitions("replies").flat()[0]!;
    expect(reply.headers[H.errorMessage]?.toString()).toBeUndefined();
    expect(JSON.parse(reply.value!.toString())).toEqual({ n: 0, names: [], step: "saw 0" });
    await runtime.stop();
  });

  it("journals nothing for a shared handler that only reads, and no reads of exclusive handlers", async () => {
    let failOnce = true;
    const peeking = deferred();
    const release = deferred();
    const def = object({
      name: "Reads",
      handlers: {
        put: async (ctx, n: number) => {
          const before = (await ctx.get<number>("n")) ?? 0;
          await ctx.stateKeys();
          await ctx.run("step", () => before);
          if (failOnce) {
            failOnce = false;
            throw new Error("retry once, so the journal is replayed from memory");
          }
          ctx.set("n", before + n);
          return before + n;
        },
        peek: shared(async (ctx) => {
          const seen = { n: await ctx.get<number>("n"), names: await ctx.stateKeys() };
          peeking.resolve();
          await release.promise; // still running while other batches commit
          return seen;
        }),
        other: async () => "other",
      },
      options: { retry: { initialIntervalMs: 1, maxAttempts: 3 } },
    });
    const app = new MemoryApp({ objects: [def] });
    await app.start();
    expect((await app.reply(app.send("Reads/1", "put", 2))).value).toBe(2);
    const peek = app.send("Reads/1", "peek");
    await peeking.promise;
    // A later invocation of the same key commits while the peek still runs: had the reads been
    // written on their own, their journal would be in the changelog by now.
    expect((await app.reply(app.send("Reads/1", "other"))).value).toBe("other");
    expect(journalsWritten(app.log, "m.changelog").filter((j) => j.kinds.includes("get"))).toEqual([]);
    release.resolve();
    expect((await app.reply(peek)).value).toEqual({ n: 2, names: ["n"] });
    await app.runtime.stop();
    // Exclusive: reads are not journaled (docs/design.md), and such journals stay schema v1.
    expect(journalsWritten(app.log, "m.changelog")).toEqual([{ version: 1, kinds: ["run"] }]);
  });
});

describe("journaled reads and the record size limit", () => {
  it("counts a shared handler's reads in its journal, and says so when the journal gets too large", async () => {
    const def = object({
      name: "Big",
      handlers: {
        put: async (ctx, v: { name: string; text: string }) => void ctx.set(v.name, v.text),
        summarize: shared(async (ctx) => {
          const a = (await ctx.get<string>("a")) ?? "";
          const b = (await ctx.get<string>("b")) ?? "";
          return ctx.run("measure", () => a.length + b.length);
        }),
      },
    });
    const app = new MemoryApp({ objects: [def] }, { maxRecordBytes: 16_384 });
    await app.start();
    // Each value fits a record; both read by one invocation do not fit its journal.
    await app.reply(app.send("Big/1", "put", { name: "a", text: "x".repeat(9_000) }));
    await app.reply(app.send("Big/1", "put", { name: "b", text: "y".repeat(9_000) }));
    const r = await app.reply(app.send("Big/1", "summarize"));
    expect(r.errorCode).toBe("record_too_large");
    expect(r.errorMessage).toMatch(/the journal of invocation \S+ \(3 entries, 2 of them state reads of a shared handler\) is \d+ bytes/);
    await app.runtime.stop();
  });
});

describe("journal schema versions", () => {
  const entry = (kind: JournalKind, value: string | null): JournalEntryRecord => ({
    kind,
    name: "n",
    value: value === null ? null : Buffer.from(value),
    failure: null,
  });

  /** What a v3 reader makes of an older record: the v3 fields with their defaults. */
  const asV3 = (r: JournalRecord): JournalRecord => ({
    invocationId: r.invocationId,
    entries: r.entries.map((e) => ({ ...e, done: true, ref: null, at: null })),
  });

  it("decodes a journal record written with schema v1", () => {
    const v1 = codecFromFiles<JournalRecord>("journal", { 1: "journal.v1.avsc" });
    const record: JournalRecord = {
      invocationId: "p0-o1",
      entries: [
        { kind: "run", name: "charge", value: Buffer.from('"tx-1"'), failure: null },
        { kind: "run", name: "refund", value: null, failure: { code: "declined", message: "card declined" } },
        { kind: "set", name: "n", value: Buffer.from("1"), failure: null },
      ],
    };
    const bytes = v1.encode(record);
    expect(bytes[0]).toBe(1);
    expect(codecs.journal.decode(bytes)).toEqual(asV3(record));
  });

  it("writes v1 when a journal holds only v1 kinds, v2 when it holds shared reads; a v1-only reader refuses v2 clearly", () => {
    const plain: JournalRecord = { invocationId: "a", entries: [entry("run", "1"), entry("set", "2")] };
    const reads: JournalRecord = { invocationId: "b", entries: [entry("get", "1"), entry("keys", '["n"]'), entry("run", "1")] };
    const plainBytes = codecs.journal.encode(plain);
    const readBytes = codecs.journal.encode(reads);
    expect(plainBytes[0]).toBe(1);
    expect(readBytes[0]).toBe(2);
    expect(codecs.journal.decode(plainBytes)).toEqual(asV3(plain));
    expect(codecs.journal.decode(readBytes)).toEqual(asV3(reads));
    const v1Reader = codecFromFiles<JournalRecord>("journal", { 1: "journal.v1.avsc" });
    expect(v1Reader.decode(plainBytes)).toEqual(plain); // a not yet upgraded process reads it
    expect(() => v1Reader.decode(readBytes)).toThrow(/journal record has schema version 2, written by a newer KVO.*Upgrade this process/);
  });

  it("writes v3 for calls, timers and pending entries; a v2 reader refuses it clearly; v3 keeps done, ref and at", () => {
    const waiting: JournalRecord = {
      invocationId: "c",
      entries: [
        { ...entry("run", "1"), done: true, ref: null, at: null },
        { kind: "call", name: "Account.deposit", value: null, failure: null, done: false, ref: "c-xyz Account/a1", at: null },
        { kind: "sleep", name: "", value: null, failure: null, done: false, ref: null, at: 1_800_000_000_000 },
      ],
    };
    const bytes = codecs.journal.encode(waiting);
    expect(bytes[0]).toBe(3);
    expect(codecs.journal.decode(bytes)).toEqual(waiting);
    // a done `run` journal of a v3 process stays readable by v1 processes
    expect(codecs.journal.encode({ invocationId: "d", entries: [{ ...entry("run", "1"), done: true, ref: null, at: null }] })[0]).toBe(1);
    const v2Reader = codecFromFiles<JournalRecord>("journal", { 1: "journal.v1.avsc", 2: "journal.v2.avsc" });
    expect(() => v2Reader.decode(bytes)).toThrow(/journal record has schema version 3, written by a newer KVO.*Upgrade this process/);
  });
});
