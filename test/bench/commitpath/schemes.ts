/**
 * The two commit schemes under comparison, as a layout of producers and committers over the
 * partitions a process owns.
 *
 * A (today, docs/design.md "Group commit"): one transactional producer per process
 *   (transactional.id `<app>-<instance>`), one group committer for all owned partitions,
 *   every transaction carries the offsets of every owned partition with the consumer's group
 *   metadata (KIP-447): zombies are fenced by the group generation check.
 * B (Kafka's EOS v1): one transactional producer per owned input partition
 *   (transactional.id `<app>-p<partition>`), one committer per partition, committing in
 *   parallel; only transactions that consume input carry offsets (that partition's): zombies
 *   are fenced by the producer epoch that the new owner's initTransactions bumps.
 *   The binding's sendOffsetsToTransaction always takes a consumer, so B's offset commits
 *   also carry the group metadata (the broker's request is the same TxnOffsetCommit).
 */
import type { TransactionalProducer } from "../../../connectors/kafka/transactions.js";
import { BenchCommitter } from "./committer.js";
import type { Fixture } from "./fixture.js";

export type SchemeName = "A" | "B";
export const SCHEMES: readonly SchemeName[] = ["A", "B"];

export interface Layout {
  scheme: SchemeName;
  producers: TransactionalProducer[];
  committers: BenchCommitter[];
  committerFor(partition: number): BenchCommitter;
}

export function layout(scheme: SchemeName, f: Fixture, owned: number[]): Layout {
  if (scheme === "A") {
    const producer = f.producer("instance-0");
    const committer = new BenchCommitter(producer, owned, "every-owned-partition");
    return { scheme, producers: [producer], committers: [committer], committerFor: () => committer };
  }
  const byPartition = new Map<number, BenchCommitter>();
  const producers: TransactionalProducer[] = [];
  for (const p of owned) {
    const producer = f.producer(`p${p}`);
    producers.push(producer);
    byPartition.set(p, new BenchCommitter(producer, [p], "moved-partitions-only"));
  }
  return {
    scheme,
    producers,
    committers: [...byPartition.values()],
    committerFor(partition) {
      const c = byPartition.get(partition);
      if (!c) throw new Error(`scheme B: no producer for partition ${partition}`);
      return c;
    },
  };
}
