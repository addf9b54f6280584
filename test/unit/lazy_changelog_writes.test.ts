/**
 * Lazy changelog writes (CommitSink.putChangelogLazy): an invocation's `inv` record is written
 * only if the batch that consumed its request is sealed while it is still in flight. These
 * tests drive the GroupCommitter directly with a recording transport.
 */
import { describe, expect, it } from "vitest";
import { Batch } from "../../runtime/commit/batch.js";
import { GroupCommitter } from "../../runtime/commit/group_committer.js";
import type { TransactionBatch } from "../../runtime/log/log.js";
import { systemClock } from "../../runtime/support.js";
import { quietLogger } from "../support/memory_app.js";

function committer(limits = { maxTransactionRecords: 10, maxTransactionBytes: 1 << 20, maxUncommittedBytes: 1 << 24 }) {
  const commits: TransactionBatch[] = [];
  const transport = {
    commit: (batch: TransactionBatch) => {
      commits.push(batch);
      return Promise.resolve();
    },
  };
  const sink = new GroupCommitter(transport, "app.changelog", systemClock, quietLogger, limits, { onFenced: () => undefined });
  sink.track(0, 0n);
  const changelog = () => commits.flatMap((c) => c.records.filter((r) => r.topic === "app.changelog"));
  const text = (b: Buffer | null | undefined) => (b ? b.toString() : null);
  return { sink, commits, changelog, text };
}

const encodeCount = { n: 0 };
const lazyInv = (id: string) => () => {
  encodeCount.n++;
  return { key: `["inv","${id}"]`, value: Buffer.from(`record of ${id}`) };
};

describe("lazy changelog writes", () => {
  it("a write retracted while its batch is open is never encoded nor written", async () => {
    const { sink, commits, changelog } = committer();
    encodeCount.n = 0;
    const write = sink.putChangelogLazy(0, 100, lazyInv("a"));
    sink.consumed(0, 1n);
    expect(sink.retractLazy(write)).toBe(true);
    sink.putChangelog(0, `["st","O","k","v"]`, Buffer.from("1"));
    await sink.flush();
    expect(encodeCount.n).toBe(0);
    expect(changelog().map((r) => r.key!.toString())).toEqual([`["st","O","k","v"]`]);
    expect(commits[0]!.offsets.get(0)).toBe(1n);
  });

  it("a write still live when its batch is sealed is encoded into that batch, with the offset, and can no longer be retracted", async () => {
    const { sink, commits, changelog, text } = committer();
    const write = sink.putChangelogLazy(0, 100, lazyInv("b"));
    sink.consumed(0, 1n);
    sink.sealOpen();
    expect(sink.retractLazy(write)).toBe(false); // sealed: the caller must write a tombstone
    sink.putChangelog(0, `["inv","b"]`, null);
    await sink.flush();
    expect(commits).toHaveLength(2);
    expect(commits[0]!.records.map((r) => [r.key!.toString(), text(r.value)])).toEqual([[`["inv","b"]`, "record of b"]]);
    expect(commits[0]!.offsets.get(0)).toBe(1n);
    expect(changelog().map((r) => [r.key!.toString(), text(r.value)])).toEqual([
      [`["inv","b"]`, "record of b"],
      [`["inv","b"]`, null],
    ]);
  });

  it("an ordinary write of the same key in the batch supersedes a live lazy write", async () => {
    const { sink, changelog, text } = committer();
    sink.putChangelogLazy(0, 100, lazyInv("c"));
    sink.putChangelog(0, `["inv","c"]`, Buffer.from("retry record"));
    sink.consumed(0, 1n);
    await sink.flush();
    expect(changelog().map((r) => [r.key!.toString(), text(r.value)])).toEqual([[`["inv","c"]`, "retry record"]]);
  });

  it("counts lazy writes towards the record cap only beyond an allowance of as many again", async () => {
    const { sink, commits } = committer({ maxTransactionRecords: 10, maxTransactionBytes: 1 << 20, maxUncommittedBytes: 1 << 24 });
    // one delivery of 15 records: 15 lazy writes, no seal yet (allowance 10, cap 10: 5 count)
    const writes = Array.from({ length: 15 }, (_, i) => {
      const write = sink.putChangelogLazy(0, 10, lazyInv(`d${i}`));
      sink.consumed(0, BigInt(i + 1));
      sink.stepBoundary();
      return write;
    });
    expect(commits).toHaveLength(0);
    // their invocations end: every lazy write is retracted, nothing of them is written
    for (const w of writes) expect(sink.retractLazy(w)).toBe(true);
    // 25 more without retraction: the batch seals once lazy writes beyond 10 reach the cap
    for (let i = 0; i < 25; i++) {
      sink.putChangelogLazy(0, 10, lazyInv(`e${i}`));
      sink.consumed(0, BigInt(16 + i));
      sink.stepBoundary();
    }
    await sink.flush();
    const sizes = commits.map((c) => c.records.length);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(2 * 10);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(25);
  });

  it("keeps no entry per retracted write in a batch that stays open (a commit retried while invocations go on)", () => {
    const batch = new Batch();
    const live = Array.from({ length: 10 }, (_, i) => batch.putChangelogLazy(0, 10, lazyInv(`live${i}`)));
    let retracted = 0;
    for (let i = 0; i < 20_000; i++) if (batch.retractLazy(batch.putChangelogLazy(0, 10, lazyInv(`gone${i}`)))) retracted++;
    expect(retracted).toBe(20_000);
    expect(batch.lazyCount).toBe(10);
    expect(batch.lazyEntries).toBeLessThanOrEqual(2 * 1_024);
    batch.materialize("app.changelog");
    expect(live.every((w) => w.retracted && w.encode === null)).toBe(true);
    expect(batch.records().map((r) => r.key!.toString())).toEqual(Array.from({ length: 10 }, (_, i) => `["inv","live${i}"]`));
  });
});
