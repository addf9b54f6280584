import { FencedError, KvoError, toKvoError } from "../../sdk/errors.js";
import type { LogTransport, OutboundRecord } from "../log/log.js";
import type { Clock, Logger } from "../support.js";
import { Batch, type LazyEncode, type LazyWrite } from "./batch.js";
import type { BatchToken, CommitSink } from "./sink.js";

export interface CommitStats {
  commits: number;
  records: number;
  /** Sum of commit latencies, ms (transaction begin → committed). */
  commitMs: number;
  /** Longest commit so far, ms. */
  maxCommitMs: number;
  retries: number;
  /** When the oldest still-failing commit first failed (clock ms), null while commits succeed. */
  failingSince: number | null;
}

export interface CommitLimits {
  /** A batch is sealed (and a new one opened) once it holds this many records. */
  maxTransactionRecords: number;
  /** ... or this many bytes. */
  maxTransactionBytes: number;
  /** Written but uncommitted bytes above which the committer asks for consumption to pause. */
  maxUncommittedBytes: number;
}

export interface CommitHooks {
  onFenced(error: FencedError): void;
  onCommitted?(batchSize: number, ms: number): void;
  onCommitFailed?(error: KvoError, attempt: number, delayMs: number): void;
  /** Uncommitted bytes crossed the budget (true) or fell below half of it again (false). */
  onPressure?(over: boolean): void;
}

/**
 * Group commit: every effect of every running invocation on this process joins the open
 * batch; one Kafka transaction commits a batch's changelog records, outgoing records and
 * the consumed offsets of all owned partitions. The next transaction starts as soon as the
 * previous one ends, so latency stays near one commit while throughput grows with
 * concurrency.
 *
 * Invariants:
 * - batches commit strictly in order, so a committed batch implies all earlier ones are;
 * - a batch's offsets are fixed when it is sealed; a batch that failed with a retryable error
 *   is committed again, unchanged (same records, same offsets), in a new transaction, so no
 *   offset is ever committed ahead of the records written for the inputs before it;
 * - a transaction holds about maxTransactionRecords records and maxTransactionBytes bytes,
 *   at most twice that (see fullness()): a full batch is sealed at the end of the turn that
 *   filled it, or at the next step boundary once over twice the caps (never inside a step:
 *   what one step writes commits together), and the following writes open a new one, so a
 *   backlog never makes a transaction long (it must stay far below transaction.timeout.ms);
 * - written-but-uncommitted bytes above maxUncommittedBytes raise onPressure(true): the
 *   runtime pauses consumption until they fall below half;
 * - every transaction carries the offsets of every owned partition, so the broker checks
 *   this member's group generation on every commit (KIP-447 fencing).
 */
export class GroupCommitter implements CommitSink {
  private open = new Batch();
  /** Sealed batches waiting for their transaction, oldest first; the head may be in flight. */
  private readonly sealed: Batch[] = [];
  /** Memory estimate of the sealed batches (they never change once sealed). */
  private sealedMemory = 0;
  private inflight: Batch | null = null;
  private scheduled = false;
  private stopped = false;
  private pressured = false;
  private sealRequested = false;
  /** Next offset per owned partition as of the newest sealed batch. */
  private readonly positions = new Map<number, bigint>();
  readonly stats: CommitStats = { commits: 0, records: 0, commitMs: 0, maxCommitMs: 0, retries: 0, failingSince: null };

  constructor(
    private readonly transport: Pick<LogTransport, "commit">,
    private readonly changelogTopic: string,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly limits: CommitLimits,
    private readonly hooks: CommitHooks,
  ) {}

  /** Starts committing offsets of a newly owned partition. */
  track(partition: number, nextOffset: bigint): void {
    this.positions.set(partition, nextOffset);
  }

  /** Stops committing offsets of a partition no longer owned (after its last flush). */
  untrack(partition: number): void {
    this.positions.delete(partition);
    this.open.consumed.delete(partition);
  }

  /**
   * Estimated memory of written but not yet committed records (open, sealed and in-flight
   * batches): their bytes plus a per-record overhead (see Batch.memory).
   */
  get uncommittedBytes(): number {
    return this.sealedMemory + this.open.memory;
  }

  putChangelog(partition: number, key: string, value: Buffer | null): BatchToken {
    const batch = this.open;
    if (this.stopped) return batch;
    batch.putChangelog(`${partition}\0${key}`, { topic: this.changelogTopic, partition, key: Buffer.from(key), value });
    this.written();
    return batch;
  }

  putChangelogLazy(partition: number, estimate: number, encode: LazyEncode): LazyWrite {
    const write = this.open.putChangelogLazy(partition, estimate, encode);
    if (this.stopped)
      this.open.retractLazy(write); // nothing reaches a batch after stop
    else this.written();
    return write;
  }

  retractLazy(write: LazyWrite): boolean {
    return write.batch === this.open && this.open.retractLazy(write);
  }

  retract(partition: number, key: string, token: BatchToken): boolean {
    return token === this.open && this.open.retract(`${partition}\0${key}`);
  }

  emit(record: OutboundRecord): void {
    if (this.stopped) return;
    this.open.emit(record);
    this.written();
  }

  consumed(partition: number, nextOffset: bigint): void {
    if (this.stopped || !this.positions.has(partition)) return;
    this.open.consumed.set(partition, nextOffset);
    this.schedule();
  }

  durable(): Promise<void> {
    return this.newest()?.done ?? Promise.resolve();
  }

  /**
   * Resolves once everything written so far is committed, or was discarded because this
   * process was fenced (graceful revoke and stop must not hang on a zombie's batch).
   */
  async flush(): Promise<void> {
    await this.newest()?.settled;
  }

  /** Drops everything not yet in flight; used after fencing. Waiters of dropped batches never resolve. */
  discard(): void {
    for (const batch of this.sealed.splice(this.inflight ? 1 : 0)) {
      this.sealedMemory -= batch.memory;
      batch.discard();
    }
    this.open.discard();
    this.open = new Batch();
    this.checkPressure();
  }

  stop(): void {
    this.stopped = true;
  }

  /** The head of `sealed` (the batch in flight) is done: committed or discarded. */
  private dropSealedHead(): void {
    const batch = this.sealed.shift();
    if (batch) this.sealedMemory -= batch.memory;
  }

  /** The newest batch holding anything, or null when everything is committed. */
  private newest(): Batch | null {
    if (!this.open.empty) return this.open;
    return this.sealed[this.sealed.length - 1] ?? null;
  }

  /**
   * Called between two steps that must not be split (e.g. between ingested records): seals
   * the open batch now if it is over twice its caps; a full one is sealed at the end of the
   * current turn (see fullness()).
   */
  stepBoundary(): void {
    const fullness = this.fullness();
    if (fullness === "over") this.seal();
    else if (fullness === "full") this.requestSeal();
  }

  /**
   * Seals the open batch now (if it holds anything): batches sealed afterwards no longer name
   * a partition untracked after this call, while this one still carries its offset.
   */
  sealOpen(): void {
    if (!this.open.empty) this.seal();
    this.schedule();
  }

  /**
   * "full" once the open batch reaches maxTransactionRecords / maxTransactionBytes, counting
   * lazy writes (`inv` records) only beyond an allowance of as many again: most are retracted
   * before the batch is sealed (Batch.lazyCount), and a delivery of many records must not
   * seal batches full of them before their handlers could end. A full batch is sealed at the
   * end of the turn, after the handlers that the turn's deliveries started have ended (and
   * taken their lazy writes back) — sealing at the step that filled it would write the `inv`
   * records of all of them. "over" at twice the caps, everything counted: sealed at the next
   * step boundary, which bounds a transaction at twice the caps plus one step.
   */
  private fullness(): "no" | "full" | "over" {
    const batch = this.open;
    const { maxTransactionRecords: maxRecords, maxTransactionBytes: maxBytes } = this.limits;
    if (batch.size >= 2 * maxRecords || batch.bytes >= 2 * maxBytes) return "over";
    const records = batch.size - batch.lazyCount + Math.max(0, batch.lazyCount - maxRecords);
    const bytes = batch.bytes - batch.lazyByteCount + Math.max(0, batch.lazyByteCount - maxBytes);
    return records >= maxRecords || bytes >= maxBytes ? "full" : "no";
  }

  private written(): void {
    // Never seal between two writes of one synchronous step: an invocation's completion
    // (state, tombstones, outcome, replies) or an ingested record (its offset and its `inv`)
    // must commit together. A full batch is sealed at the next step boundary if over twice
    // its caps, else once the current turn ends.
    if (this.fullness() !== "no") this.requestSeal();
    this.checkPressure();
    this.schedule();
  }

  /** Seals the open batch at the end of the current turn if it is still full then. */
  private requestSeal(): void {
    if (this.sealRequested) return;
    this.sealRequested = true;
    setImmediate(() => {
      this.sealRequested = false;
      if (this.fullness() !== "no") this.seal();
      this.schedule();
    });
  }

  /** Cuts the open batch: its offsets become every owned partition's position as of now. */
  private seal(): void {
    const batch = this.open;
    this.open = new Batch();
    batch.materialize(this.changelogTopic);
    for (const [partition, next] of batch.consumed) if (this.positions.has(partition)) this.positions.set(partition, next);
    batch.offsets = new Map(this.positions);
    this.sealed.push(batch);
    this.sealedMemory += batch.memory;
  }

  private checkPressure(): void {
    const bytes = this.uncommittedBytes;
    if (!this.pressured && bytes > this.limits.maxUncommittedBytes) {
      this.pressured = true;
      this.hooks.onPressure?.(true);
    } else if (this.pressured && bytes <= this.limits.maxUncommittedBytes / 2) {
      this.pressured = false;
      this.hooks.onPressure?.(false);
    }
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
    if (this.inflight) return;
    if (this.sealed.length === 0) {
      if (this.open.empty) return;
      this.seal();
    }
    const batch = this.sealed[0]!;
    this.inflight = batch;
    const records = batch.records();
    const offsets = batch.offsets!;
    for (let attempt = 1; ; attempt++) {
      const started = this.clock.now();
      try {
        await this.transport.commit({ records, offsets });
        const ms = this.clock.now() - started;
        this.stats.commits++;
        this.stats.records += records.length;
        this.stats.commitMs += ms;
        this.stats.maxCommitMs = Math.max(this.stats.maxCommitMs, ms);
        this.stats.failingSince = null;
        this.hooks.onCommitted?.(records.length, ms);
        this.dropSealedHead();
        batch.resolve();
        break;
      } catch (thrown) {
        const error = thrown instanceof KvoError ? thrown : toKvoError(thrown);
        if (error instanceof FencedError) {
          this.logger.error(`commit fenced: ${error.message}; discarding uncommitted work`);
          this.inflight = null;
          this.dropSealedHead();
          batch.discard();
          this.discard();
          this.hooks.onFenced(error);
          return;
        }
        if (this.stopped && !error.retryable) {
          this.logger.error(`commit failed while stopping: ${error.message}`);
          this.inflight = null;
          this.dropSealedHead();
          batch.discard();
          this.discard();
          return;
        }
        this.stats.retries++;
        this.stats.failingSince ??= started;
        const delay = Math.min(5_000, 50 * 2 ** Math.min(attempt - 1, 7));
        this.hooks.onCommitFailed?.(error, attempt, delay);
        this.logger.warn(
          `commit of ${records.length} records failed (${error.code}: ${error.message}); retrying the same batch in ${delay} ms`,
        );
        await new Promise<void>((resolve) => this.clock.setTimeout(resolve, delay));
      }
    }
    this.inflight = null;
    this.checkPressure();
    if (this.sealed.length > 0 || !this.open.empty) this.schedule();
  }
}
