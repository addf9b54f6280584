/**
 * The benchmark's group committer: the batching rule of runtime/commit/group_committer.ts
 * (everything written while a transaction is in flight joins the next one; the next
 * transaction starts as soon as the previous one ends) over one of the runtime's own
 * TransactionalProducers, with the offset rule as a parameter — the only thing the two
 * commit schemes disagree on:
 *
 * - "every-owned-partition" (scheme A, today): every transaction carries the consumed offsets
 *   of every partition the committer owns, moved or not, so the group coordinator checks this
 *   member's generation on every commit (KIP-447 fencing).
 * - "moved-partitions-only" (scheme B, EOS v1 style): a transaction carries the offsets of
 *   the partitions whose consumed position moved since the last commit, so step-only
 *   transactions send no AddOffsetsToTxn / TxnOffsetCommit at all. Fencing comes from the
 *   producer epoch of a per-partition transactional.id instead.
 *
 * It is a copy of the rule, not the runtime's class, so that the two schemes run the same
 * code except for that rule (the runtime's GroupCommitter has the first rule built in).
 * A failed commit rejects its writers and is not retried: a benchmark run that meets one
 * is reported as failed rather than measured.
 */
import type { TransactionalProducer } from "../../../connectors/kafka/transactions.js";
import type { OutboundRecord } from "../../../runtime/log/log.js";

export type OffsetPolicy = "every-owned-partition" | "moved-partitions-only";

/** One committed transaction, as the committer saw it. */
export interface CommitSample {
  records: number;
  /** Input partitions whose offsets the transaction carried (0: step-only). */
  offsetPartitions: number;
  /** begin → commit acknowledged, ms. */
  ms: number;
}

interface Pending {
  records: OutboundRecord[];
  moved: Set<number>;
  waiters: { resolve(): void; reject(err: unknown): void }[];
}

const emptyBatch = (): Pending => ({ records: [], moved: new Set(), waiters: [] });

export class BenchCommitter {
  private pending = emptyBatch();
  private inflight = false;
  private failure: Error | null = null;
  /** Next offset to consume per owned input partition (what the offsets commit says). */
  readonly positions = new Map<number, bigint>();
  readonly samples: CommitSample[] = [];

  constructor(
    private readonly producer: TransactionalProducer,
    owned: number[],
    private readonly policy: OffsetPolicy,
  ) {
    for (const p of owned) this.positions.set(p, 0n);
  }

  /**
   * Adds a record (and, for a record that consumes input, the partition's new position) to
   * the pending batch; resolves when the transaction holding it committed.
   */
  write(record: OutboundRecord, consumed?: { partition: number; next: bigint }): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (consumed) {
      const at = this.positions.get(consumed.partition);
      if (at === undefined) throw new Error(`committer does not own input partition ${consumed.partition}`);
      if (consumed.next > at) this.positions.set(consumed.partition, consumed.next);
      this.pending.moved.add(consumed.partition);
    }
    this.pending.records.push(record);
    const done = new Promise<void>((resolve, reject) => this.pending.waiters.push({ resolve, reject }));
    this.kick();
    return done;
  }

  /** Resolves when nothing is pending or in flight. */
  async drain(): Promise<void> {
    while (this.inflight || this.pending.waiters.length > 0) await new Promise((r) => setTimeout(r, 5));
  }

  private kick(): void {
    if (this.inflight || this.pending.waiters.length === 0) return;
    const batch = this.pending;
    this.pending = emptyBatch();
    this.inflight = true;
    const partitions = this.policy === "every-owned-partition" ? [...this.positions.keys()] : [...batch.moved];
    const offsets = new Map<number, bigint>(partitions.map((p) => [p, this.positions.get(p) ?? 0n]));
    const started = performance.now();
    this.producer.commit({ records: batch.records, offsets }).then(
      () => {
        this.samples.push({ records: batch.records.length, offsetPartitions: offsets.size, ms: performance.now() - started });
        this.inflight = false;
        for (const w of batch.waiters) w.resolve();
        this.kick();
      },
      (err: unknown) => {
        this.failure = err instanceof Error ? err : new Error(String(err));
        this.inflight = false;
        for (const w of [...batch.waiters, ...this.pending.waiters]) w.reject(err);
        this.pending = emptyBatch();
      },
    );
  }
}
