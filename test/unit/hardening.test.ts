/**
 * Regression tests of the core-hardening defects (each failed before its fix): callers writing
 * into the app's own topics, records over the size limit reaching a batch, dead partitions
 * after a failed restore, unbounded transactions and memory, stale reply-topic answers.
 */
import { describe, expect, it } from "vitest";
import { object, TerminalError } from "../../index.js";
import { H } from "../../runtime/invocation/headers.js";
import { codecs } from "../../runtime/codec/records.js";
import { encodeChangelogKey } from "../../runtime/codec/changelog_key.js";
import { MemoryApp } from "../support/memory_app.js";
import { waitFor } from "../support/wait.js";

const counter = object({
  name: "Ledger",
  handlers: {
    add: async (ctx, n: number) => {
      const next = ((await ctx.get<number>("n")) ?? 0) + n;
      ctx.set("n", next);
      return next;
    },
    boom: async (_ctx, size: number) => {
      throw new TerminalError("e".repeat(size), { code: "boom" });
    },
    slow: async (ctx) => {
      await ctx.run("wait", () => new Promise((resolve) => setTimeout(resolve, 50)));
      return "done";
    },
  },
});

/** Every live value of the changelog, decoded by its key kind: throws on anything KVO did not write. */
function decodeChangelog(app: MemoryApp): number {
  let n = 0;
  // what a restore after compaction reads: the latest value of every key
  for (let p = 0; p < app.log.partitions("m.changelog").length; p++) {
    for (const [key, value] of app.log.compacted("m.changelog", p)) {
      const kind = (JSON.parse(key) as string[])[0];
      if (kind === "st") codecs.stateValue.decode(value);
      else if (kind === "inv") codecs.invocation.decode(value);
      else if (kind === "jnl") codecs.journal.decode(value);
      else if (kind === "out") codecs.outcome.decode(value);
      n++;
    }
  }
  return n;
}

describe("callers cannot write into the app's own topics", () => {
  it("refuses the changelog, invocations, DLQ and Kafka internal topics as reply targets", async () => {
    const app = new MemoryApp({ objects: [counter] });
    app.log.createTopic("__consumer_offsets", 1);
    await app.start();
    // A correlation id shaped like a changelog key: written there, it would poison every restore.
    const forged = JSON.stringify(["st", "Ledger", "k1", "n"]);
    for (const replyTo of ["m.changelog", "m.invocations", "m.dlq", "__consumer_offsets"]) {
      app.log.append("m.invocations", {
        key: Buffer.from("Ledger/k1"),
        value: Buffer.from("1"),
        headers: { [H.handler]: Buffer.from("add"), [H.replyTo]: Buffer.from(replyTo), [H.correlationId]: Buffer.from(forged) },
      });
    }
    app.log.notify();
    await waitFor(() => app.dlq().length === 4, "four DLQ records");
    expect(app.dlq().map((d) => d.code)).toEqual([
      "reserved_reply_topic",
      "reserved_reply_topic",
      "reserved_reply_topic",
      "reserved_reply_topic",
    ]);
    expect(app.dlq()[0]!.message).toMatch(/only the runtime writes there/);
    const ok = app.send("Ledger/k1", "add", 5);
    expect((await app.reply(ok)).value).toBe(5); // the refused ones never ran
    await app.runtime.stop();
    expect(() => decodeChangelog(app)).not.toThrow();
    expect(app.log.partitions("m.invocations").flat().length).toBe(5); // nothing was written back
  });
});

describe("every outgoing record fits the record limit", () => {
  it("caps error messages in outcomes, replies and invocation records", async () => {
    const app = new MemoryApp({ objects: [counter] }, { maxRecordBytes: 16_384 });
    await app.start();
    const corr = app.send("Ledger/a", "boom", 500_000, { idempotencyKey: "once" });
    const reply = await app.reply(corr);
    expect(reply.status).toBe("failed");
    expect(reply.errorCode).toBe("boom");
    expect((reply.value as { message: string }).message.length).toBeLessThan(2_100);
    expect(reply.errorMessage!.length).toBeLessThan(400); // the header carries a short form only
    for (const part of app.log.partitions("m.changelog")) for (const r of part) expect(r.value?.length ?? 0).toBeLessThanOrEqual(16_384);
    const after = app.send("Ledger/a", "add", 1);
    expect((await app.reply(after)).value).toBe(1);
    await app.runtime.stop();
  });

  it("bounds the callers waiting on one idempotent invocation", async () => {
    const app = new MemoryApp({ objects: [counter] }, { maxReplyTargets: 3 });
    await app.start();
    const corrs = Array.from({ length: 6 }, () => app.send("Ledger/b", "slow", undefined, { idempotencyKey: "same" }));
    await waitFor(() => app.replies().length === 6, "six replies");
    const byCorr = new Map(app.replies().map((r) => [r.corr, r]));
    const statuses = corrs.map((c) => byCorr.get(c)!.status);
    expect(statuses.filter((s) => s === "ok")).toHaveLength(3);
    expect(corrs.slice(3).map((c) => byCorr.get(c)!.errorCode)).toEqual(["too_many_callers", "too_many_callers", "too_many_callers"]);
    await app.runtime.stop();
  });

  it("drops what does not fit from a DLQ copy of a rejected near-limit record", async () => {
    const app = new MemoryApp({ objects: [counter] }, { maxRecordBytes: 16_384 });
    await app.start();
    // fits as a record, but not with the DLQ reason headers added, nor as an invocation
    app.log.append("m.invocations", {
      key: Buffer.from("Nobody/x"),
      value: Buffer.from("x".repeat(16_300)),
      headers: { [H.handler]: Buffer.from("add") },
    });
    app.log.append("m.invocations", {
      key: Buffer.from("Nobody/y"),
      value: Buffer.from("1"),
      headers: { [H.handler]: Buffer.from("add"), big: Buffer.from("h".repeat(16_300)) },
    });
    app.log.notify();
    await waitFor(() => app.dlq().length === 2, "two DLQ records");
    const copies = app.log.partitions("m.dlq").flat();
    for (const r of copies) {
      let bytes = (r.key?.length ?? 0) + (r.value?.length ?? 0);
      for (const [k, v] of Object.entries(r.headers)) bytes += k.length + v.length;
      expect(bytes).toBeLessThanOrEqual(16_384);
      expect(r.headers[H.errorCode]!.toString()).toBe("unknown_target");
    }
    expect(copies.some((r) => r.headers[H.dlqValueOmittedBytes]?.toString() === "16300")).toBe(true);
    expect(copies.some((r) => r.headers[H.dlqHeadersOmitted]?.toString() === "true")).toBe(true);
    await app.runtime.stop();
  });
});

describe("a changelog record that cannot be read never leaves a dead partition", () => {
  function seedChangelog(app: MemoryApp, partition: number, key: string, value: Buffer): void {
    app.log.createTopic("m.changelog", 2);
    app.log.append("m.changelog", { partition, key: Buffer.from(key), value });
  }

  it("quarantines a corrupt record (DLQ copy, tombstone, event, count) and serves the partition", async () => {
    const probe = new MemoryApp({ objects: [counter] });
    probe.log.createTopic("m.invocations", 2);
    const p = probe.log.append("m.invocations", { key: Buffer.from("Ledger/k1"), value: null }).partition;

    const app = new MemoryApp({ objects: [counter] });
    const key = encodeChangelogKey({ type: "st", object: "Ledger", key: "k1", name: "n" });
    seedChangelog(app, p, key, Buffer.from('{"not":"a KVO record"}'));
    const events: Array<{ partition: number; offset: bigint }> = [];
    app.runtime.on("changelog.quarantined", (e) => events.push({ partition: e.partition, offset: e.offset }));
    await app.start();
    const corr = app.send("Ledger/k1", "add", 2);
    expect((await app.reply(corr)).value).toBe(2);
    expect(events).toEqual([{ partition: p, offset: 0n }]);
    expect(app.runtime.stats().quarantinedChangelogRecords).toBe(1);
    const dlq = app.log.partitions("m.dlq").flat();
    expect(dlq.map((r) => r.headers[H.errorCode]!.toString())).toEqual(["corrupt_changelog_record"]);
    expect(dlq[0]!.headers[H.dlqSourceTopic]!.toString()).toBe("m.changelog");
    expect(dlq[0]!.value!.toString()).toBe('{"not":"a KVO record"}');
    await app.runtime.stop();
    expect(() => decodeChangelog(app)).not.toThrow(); // tombstoned: the next restore is clean
  });

  it("stops with a message to upgrade when a record was written by a newer version", async () => {
    const app = new MemoryApp({ objects: [counter] });
    const newer = Buffer.from([2, 0, 0]); // stateValue v2 does not exist yet
    seedChangelog(app, 0, encodeChangelogKey({ type: "st", object: "Ledger", key: "k1", name: "n" }), newer);
    await app.start();
    const error = await app.runtime.closed;
    expect(error).toBeDefined();
    expect((error as { code?: string }).code).toBe("newer_schema_version");
    expect(error!.message).toMatch(/Upgrade this process/);
  });

  it("retries a restore whose changelog read fails", async () => {
    const app = new MemoryApp({ objects: [counter] });
    const realRead = app.transport.readChangelog.bind(app.transport);
    let failures = 2;
    app.transport.readChangelog = async (partition, onRecord) => {
      if (failures-- > 0) throw new Error("broker unreachable");
      return realRead(partition, onRecord);
    };
    const retried: number[] = [];
    app.runtime.on("partition.restore_failed", (e) => retried.push(e.attempt));
    await app.start();
    const corr = app.send("Ledger/k2", "add", 3);
    expect((await app.reply(corr, 10_000)).value).toBe(3);
    expect(retried.length).toBe(2);
    await app.runtime.stop();
  });
});

describe("bounded transactions and memory", () => {
  it("puts about maxTransactionRecords records in one transaction (plus what one step writes, and in-flight `inv` records up to the cap)", async () => {
    const app = new MemoryApp({ objects: [counter] }, { maxTransactionRecords: 20 });
    const sizes: number[] = [];
    app.runtime.on("commit.done", (e) => sizes.push(e.records));
    await app.start();
    const corrs = Array.from({ length: 300 }, (_, i) => app.send(`Ledger/k${i % 40}`, "add", 1));
    await waitFor(() => app.replies().length === 300, "300 replies");
    // one step here writes at most 3 records (a completion: state, inv tombstone, reply); the
    // `inv` records of invocations still in flight (queued behind their keys) come on top, up
    // to as many again as the cap
    expect(Math.max(...sizes)).toBeLessThanOrEqual(2 * 20 + 3);
    expect(new Set(app.replies().map((r) => r.corr))).toEqual(new Set(corrs));
    await app.runtime.stop();
  });

  it("never splits what one step writes (a completion's state, tombstone and reply) across transactions", async () => {
    const wide = object({
      name: "Wide",
      handlers: {
        fill: async (ctx, n: number) => {
          for (let i = 0; i < n; i++) ctx.set(`v${i}`, i);
          return n;
        },
      },
    });
    const app = new MemoryApp({ objects: [wide] }, { maxTransactionRecords: 10 });
    const commits: string[][] = [];
    const realCommit = app.transport.commit.bind(app.transport);
    app.transport.commit = async (batch) => {
      commits.push(batch.records.map((r) => `${r.topic}|${r.key?.toString() ?? ""}`));
      return realCommit(batch);
    };
    await app.start();
    const corrs = Array.from({ length: 5 }, (_, i) => app.send(`Wide/w${i}`, "fill", 25));
    await waitFor(() => app.replies().length === 5, "five replies");
    for (let i = 0; i < 5; i++) {
      const holding = commits.filter((records) => records.some((r) => r.includes(`"Wide","w${i}"`)));
      expect(holding, `the completion of Wide/w${i} commits in one transaction`).toHaveLength(1);
      expect(holding[0]!.filter((r) => r.startsWith("m.changelog|") && r.includes(`"Wide","w${i}"`))).toHaveLength(25);
      expect(
        holding[0]!.some((r) => r === `replies|${corrs[i]}`),
        "with its reply",
      ).toBe(true);
    }
    await app.runtime.stop();
  });

  it("writes no `inv` record for an invocation that ends in the batch that accepted it", async () => {
    const app = new MemoryApp({ objects: [counter] });
    await app.start();
    const corrs = Array.from({ length: 5 }, (_, i) => app.send(`Ledger/q${i}`, "add", 1));
    await waitFor(() => app.replies().length === 5, "five replies");
    // a step makes the invocation outlive its batch: its `inv` record must be written (and tombstoned)
    const slow = app.send("Ledger/q9", "slow");
    await app.reply(slow);
    const keys = app.log
      .partitions("m.changelog")
      .flat()
      .map((r) => (JSON.parse(r.key!.toString()) as string[])[0]);
    expect(keys.filter((k) => k === "st")).toHaveLength(5);
    expect(keys.filter((k) => k === "inv")).toHaveLength(2); // the slow one's record and its tombstone
    expect(corrs).toHaveLength(5);
    await app.runtime.stop();
  });

  it("pauses consumption while uncommitted bytes exceed the budget, and goes on after", async () => {
    const app = new MemoryApp(
      { objects: [counter] },
      { maxRecordBytes: 131_072, maxTransactionBytes: 262_144, maxUncommittedBytes: 262_144 },
    );
    await app.start();
    const realCommit = app.transport.commit.bind(app.transport);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    app.transport.commit = async (batch) => {
      await released;
      return realCommit(batch);
    };
    const input = Buffer.from(`1${" ".repeat(100_000)}`); // valid JSON: 1
    for (let i = 0; i < 30; i++) app.send(`Ledger/big${i}`, "add", undefined, { raw: input });
    await waitFor(() => app.runtime.stats().paused.some((p) => p.reasons.includes("uncommitted-bytes")), "paused for uncommitted bytes");
    expect(app.runtime.stats().uncommittedBytes).toBeGreaterThan(262_144);
    release();
    await waitFor(() => app.replies().length === 30, "30 replies");
    await waitFor(() => app.runtime.stats().paused.length === 0, "resumed");
    await app.runtime.stop();
  });

  it("bounds the kept outcomes of idempotent invocations, oldest dropped first", async () => {
    const app = new MemoryApp({ objects: [counter] }, { maxOutcomesPerPartition: 5, partitions: 1 });
    await app.start();
    for (let i = 0; i < 12; i++) await app.reply(app.send("Ledger/o", "add", 1, { idempotencyKey: `k${i}` }));
    const outcomes = app.log.compacted("m.changelog", 0);
    const kept = [...outcomes.keys()].filter((k) => k.startsWith('["out"'));
    expect(kept.length).toBe(5);
    // the oldest (k0) was dropped: resending it runs again; the newest (k11) is answered from its outcome
    expect((await app.reply(app.send("Ledger/o", "add", 1, { idempotencyKey: "k11" }))).value).toBe(12);
    expect((await app.reply(app.send("Ledger/o", "add", 1, { idempotencyKey: "k0" }))).value).toBe(13);
    await app.runtime.stop();
  });
});

describe("reply-topic answers expire", () => {
  it("looks a deleted reply topic up again after its TTL instead of trusting it for ever", async () => {
    let now = 1_000_000;
    const app = new MemoryApp(
      { objects: [counter] },
      {
        replyTopicTtlMs: 1_000,
        clock: {
          now: () => now,
          setTimeout: (fn, ms) => setTimeout(fn, Math.min(ms, 20)),
          clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
        },
      },
    );
    app.log.createTopic("gone", 1);
    await app.start();
    const first = app.send("Ledger/r", "add", 1, { replyTo: "gone" });
    await waitFor(() => app.log.partitions("gone").flat().length === 1, "first reply");
    expect(first).toBeTruthy();
    app.log.topics.delete("gone");
    now += 2_000;
    app.send("Ledger/r", "add", 1, { replyTo: "gone" });
    await waitFor(() => app.dlq().length === 1, "DLQ record for the deleted reply topic");
    expect(app.dlq()[0]!.code).toBe("unknown_reply_topic");
    const ok = app.send("Ledger/r", "add", 1);
    expect((await app.reply(ok)).value).toBe(2); // the partition goes on
    await app.runtime.stop();
  });
});
