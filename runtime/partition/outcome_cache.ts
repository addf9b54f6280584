import { encodeChangelogKey } from "../codec/changelog_key.js";
import { codecs, type OutcomeRecord } from "../codec/records.js";
import type { CommitSink } from "../commit/sink.js";

export interface OutcomeLimits {
  /** How long an outcome is kept (ms after completion). */
  retentionMs: number;
  maxOutcomes: number;
  maxOutcomeBytes: number;
}

/**
 * Outcomes of a partition's idempotent invocations, kept to answer duplicates. Lives in the
 * partition state (`outcomes`, restored from the changelog) and in the changelog (`["out", id]`).
 *
 * Bounded three ways: by age (`retentionMs`, swept), by count and by bytes. Past the count or
 * byte limit the oldest outcomes go first (Map order is completion order, and a restore
 * replays the changelog in that order); every dropped outcome is tombstoned. A duplicate of a
 * dropped outcome runs again: the documented limit of deduplication.
 */
export class OutcomeCache {
  private bytes = 0;

  constructor(
    private readonly outcomes: Map<string, OutcomeRecord>,
    private readonly limits: OutcomeLimits,
    private readonly partition: number,
    private readonly sink: CommitSink,
  ) {
    for (const outcome of outcomes.values()) this.bytes += outcomeSize(outcome);
  }

  get(id: string): OutcomeRecord | undefined {
    return this.outcomes.get(id);
  }

  /** Keeps an outcome (written with the completion), then evicts what is over the limits. */
  add(outcome: OutcomeRecord): void {
    this.outcomes.set(outcome.invocationId, outcome);
    this.bytes += outcomeSize(outcome);
    this.sink.putChangelog(this.partition, encodeChangelogKey({ type: "out", id: outcome.invocationId }), codecs.outcome.encode(outcome));
    for (const [id, kept] of this.outcomes) {
      if (this.outcomes.size <= this.limits.maxOutcomes && this.bytes <= this.limits.maxOutcomeBytes) break;
      this.drop(id, kept);
    }
  }

  /** Drops outcomes older than the retention. */
  sweep(now: number): void {
    const cutoff = now - this.limits.retentionMs;
    for (const [id, outcome] of this.outcomes) if (outcome.completedAt < cutoff) this.drop(id, outcome);
  }

  /** How often sweep() should run: often enough for the retention, at most once a second. */
  get sweepEveryMs(): number {
    return Math.max(1_000, Math.min(60_000, Math.floor(this.limits.retentionMs / 4)));
  }

  private drop(id: string, outcome: OutcomeRecord): void {
    this.outcomes.delete(id);
    this.bytes -= outcomeSize(outcome);
    this.sink.putChangelog(this.partition, encodeChangelogKey({ type: "out", id }), null);
  }
}

/** Approximate bytes an outcome holds in memory. */
function outcomeSize(o: OutcomeRecord): number {
  return 128 + o.invocationId.length + (o.value?.length ?? 0) + (o.failure ? o.failure.message.length + o.failure.code.length : 0);
}
