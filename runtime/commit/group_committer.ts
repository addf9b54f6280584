import { FencedError, KvoError, toKvoError } from "../../sdk/errors.js";
import type { LogTransport, OutboundRecord } from "../log/log.js";
import type { Clock, Logger } from "../support.js";
import type { CommitSink } from "./sink.js";

class Batch {
  /** `${partition}\0${key}` → changelog record; the last write of a key in a batch wins. */
  readonly changelog = new Map<string, OutboundRecord>();
  readonly others: OutboundRecord[] = [];
  /** Set when consumed offsets moved, so an otherwise empty batch still commits them. */
  offsetsMoved = false;
  private resolveFn!: () => void;
  private settleFn!: () => void;
  /** Resolves when the batch committed; never, when it was discarded (fencing). */
  readonly done: Promise<void> = new Promise<void>((resolve) => (this.resolveFn = resolve));
  /** Resolves when the batch committed or was discarded: nothing of it is pending any more. */
  readonly settled: Promise<void> = new Promise<void>((resolve) => (this.settleFn = resolve));

  get empty(): boolean {
    return this.changelog.size === 0 && this.others.length === 0 && !this.offsetsMoved;
  }

  get size(): number {
    return this.changelog.size + this.others.length;
  }

  resolve(): void {
    this.resolveFn();
    this.settleFn();
  }

  discard(): void {
    this.settleFn();
  }
}

export interface CommitStats {
  commits: number;
  records: number;
  /** Sum of commit latencies, ms (transaction begin → committed). */
  commitMs: number;
  retries: number;
  /** When the oldest still-failing commit first failed (clock ms), null while commits succeed. */
  failingSince: number | null;
}

/**
 * Group commit: every effect of every running invocation on this process joins one pending
 * batch; one Kafka transaction commits the batch's changelog records, outgoing records and
 * the consumed offsets of all owned partitions. The next transaction starts as soon as the
 * previous one ends, so latency stays near one commit while throughput grows with
 * concurrency.
 *
 * Invariants:
 * - batches commit strictly in order, so a committed batch implies all earlier ones are;
 * - a batch that failed with a retryable error is committed again, unchanged, in a new
 *   transaction (nothing of it became visible), so in-memory state never runs ahead of what
 *   will eventually commit — except after fencing, when all of it is discarded;
 * - every transaction carries the offsets of every owned partition, so the broker checks
 *   this member's group generation on every commit (KIP-447 fencing).
 */
export class GroupCommitter implements CommitSink {
  private pending = new Batch();
  private inflight: Batch | null = null;
  private scheduled = false;
  private stopped = false;
  private readonly positions = new Map<number, bigint>();
  readonly stats: CommitStats = { commits: 0, records: 0, commitMs: 0, retries: 0, failingSince: null };

  constructor(
    private readonly transport: Pick<LogTransport, "commit">,
    private readonly changelogTopic: string,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly onFenced: (error: FencedError) => void,
    private readonly onCommitted?: (batchSize: number, ms: number) => void,
    private readonly onCommitFailed?: (error: KvoError, attempt: number, delayMs: number) => void,
  ) {}

  /** Starts committing offsets of a newly owned partition. */
  track(partition: number, nextOffset: bigint): void {
    this.positions.set(partition, nextOffset);
  }

  /** Stops committing offsets of a partition no longer owned (after its last flush). */
  untrack(partition: number): void {
    this.positions.delete(partition);
  }

  putChangelog(partition: number, key: string, value: Buffer | null): void {
    if (this.stopped) return;
    this.pending.changelog.set(`${partition}\0${key}`, { topic: this.changelogTopic, partition, key: Buffer.from(key), value });
    this.schedule();
  }

  emit(record: OutboundRecord): void {
    if (this.stopped) return;
    this.pending.others.push(record);
    this.schedule();
  }

  consumed(partition: number, nextOffset: bigint): void {
    if (this.stopped || !this.positions.has(partition)) return;
    this.positions.set(partition, nextOffset);
    this.pending.offsetsMoved = true;
    this.schedule();
  }

  durable(): Promise<void> {
    if (!this.pending.empty) return this.pending.done;
    if (this.inflight) return this.inflight.done;
    return Promise.resolve();
  }

  /**
   * Resolves once everything written so far is committed, or was discarded because this
   * process was fenced (graceful revoke and stop must not hang on a zombie's batch).
   */
  async flush(): Promise<void> {
    if (!this.pending.empty) await this.pending.settled;
    else if (this.inflight) await this.inflight.settled;
  }

  /** Drops everything pending; used after fencing. Waiters of dropped batches never resolve. */
  discard(): void {
    this.pending.discard();
    this.pending = new Batch();
  }

  stop(): void {
    this.stopped = true;
  }

  private schedule(): void {
    if (this.scheduled || this.inflight) return;
    this.scheduled = true;
    // setImmediate lets every write of the current turn join the batch before it is cut.
    setImmediate(() => {
      this.scheduled = false;
      void this.commitNext();
    });
  }

  private async commitNext(): Promise<void> {
    if (this.inflight || this.pending.empty) return;
    const batch = this.pending;
    this.pending = new Batch();
    this.inflight = batch;
    const records = [...batch.changelog.values(), ...batch.others];
    for (let attempt = 1; ; attempt++) {
      const offsets = new Map(this.positions);
      const started = this.clock.now();
      try {
        await this.transport.commit({ records, offsets });
        const ms = this.clock.now() - started;
        this.stats.commits++;
        this.stats.records += records.length;
        this.stats.commitMs += ms;
        this.stats.failingSince = null;
        this.onCommitted?.(records.length, ms);
        batch.resolve();
        break;
      } catch (thrown) {
        const error = thrown instanceof KvoError ? thrown : toKvoError(thrown);
        if (error instanceof FencedError) {
          this.logger.error(`commit fenced: ${error.message}; discarding uncommitted work`);
          this.inflight = null;
          batch.discard();
          this.discard();
          this.onFenced(error);
          return;
        }
        if (this.stopped && !error.retryable) {
          this.logger.error(`commit failed while stopping: ${error.message}`);
          this.inflight = null;
          batch.discard();
          return;
        }
        this.stats.retries++;
        this.stats.failingSince ??= started;
        const delay = Math.min(5_000, 50 * 2 ** Math.min(attempt - 1, 7));
        this.onCommitFailed?.(error, attempt, delay);
        this.logger.warn(`commit of ${records.length} records failed (${error.code}: ${error.message}); retrying the same batch in ${delay} ms`);
        await new Promise<void>((resolve) => setTimeout(resolve, delay));
      }
    }
    this.inflight = null;
    if (!this.pending.empty) this.schedule();
  }
}
