import { KvoError, toKvoError } from "../../sdk/errors.js";
import { backoffDelay } from "../../sdk/retry.js";
import { encodeChangelogKey } from "../codec/changelog_key.js";
import { decodeJson, encodeJson } from "../codec/json_payload.js";
import { codecs, type FailureRecord, type InvocationRecord, type JournalEntryRecord, type ReplyTarget } from "../codec/records.js";
import type { CommitSink } from "../commit/sink.js";
import { dlqRecord, isRejected, parseInvocation, replyRecord } from "../invocation/envelope.js";
import { ContextImpl, StateOverlay, type HandlerMode } from "../journal/context_impl.js";
import { Journal } from "../journal/journal.js";
import type { InboundRecord } from "../log/log.js";
import type { Registry } from "../registry.js";
import type { Clock, Logger } from "../support.js";
import { RecordTooLargeError } from "./limits.js";
import { objectId, PartitionState } from "./state.js";
import { RateLimitedWarn } from "../rate_limited_warn.js";

export interface ProcessorConfig {
  partition: number;
  invocationsTopic: string;
  dlqTopic: string;
  registry: Registry;
  sink: CommitSink;
  clock: Clock;
  logger: Logger;
  /** How long outcomes of invocations with an idempotency key are kept for deduplication. */
  idempotencyRetentionMs: number;
  /** First offset not yet consumed (from the group's committed offset). */
  nextOffset: bigint;
  /** In-flight invocations above which the partition asks to be paused. */
  maxInFlight: number;
  onBackpressure?: (paused: boolean) => void;
  /** Largest value written in one record (see limits.ts). */
  maxRecordBytes: number;
  /** Whether a reply topic exists (undefined: unknown, taken as yes). */
  replyTopicExists?: (topic: string) => boolean | undefined;
  /** Observability hook: called once per finished invocation. */
  onCompleted?: (inv: InvocationRecord, failure: FailureRecord | null) => void;
}

interface Active {
  record: InvocationRecord;
  mode: HandlerMode;
  journal: Journal;
  retryTimer: ReturnType<Clock["setTimeout"]> | null;
}

/**
 * Owns one input partition: turns invocation records into running handlers, keeps exclusive
 * invocations of a key one at a time in arrival order, retries failed attempts, and writes
 * every effect (journal, state, outcome, reply, DLQ) through the commit sink. It never talks
 * to Kafka; after close() nothing it does reaches the sink.
 */
export class PartitionProcessor {
  private readonly active = new Map<string, Active>();
  /** objectId → exclusive invocations of that key in arrival order; the head is running. */
  private readonly queues = new Map<string, Active[]>();
  private closed = false;
  private paused = false;
  private readonly rejectedLog: RateLimitedWarn;
  private nextOffset: bigint;
  private sweepTimer: ReturnType<Clock["setTimeout"]> | null = null;

  constructor(
    private readonly c: ProcessorConfig,
    readonly state: PartitionState,
  ) {
    this.nextOffset = c.nextOffset;
    this.rejectedLog = new RateLimitedWarn(c.logger, c.clock, `rejected records of partition ${c.partition}`);
  }

  get partition(): number {
    return this.c.partition;
  }

  get inFlight(): number {
    return this.active.size;
  }

  /** Resumes what the restored state holds in flight, in arrival order per key. */
  start(): void {
    const restored = [...this.state.invocations.values()].sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
    for (const record of restored) {
      const resolved = this.c.registry.handler(record.target, record.handler);
      if (!resolved) {
        // The definition was removed while invocations were in flight: end them visibly.
        const active = this.track(record, "service", this.state.journals.get(record.id) ?? []);
        this.complete(active, null, { code: "unknown_handler", message: `${record.target}.${record.handler} is no longer registered in this app; the in-flight invocation ${record.id} was ended` }, null);
        continue;
      }
      this.schedule(this.track(record, resolved.mode, this.state.journals.get(record.id) ?? []));
    }
    this.scheduleSweep();
  }

  close(): void {
    this.closed = true;
    for (const a of this.active.values()) if (a.retryTimer) this.c.clock.clearTimeout(a.retryTimer);
    if (this.sweepTimer) this.c.clock.clearTimeout(this.sweepTimer);
  }

  ingest(record: InboundRecord): void {
    if (this.closed) return;
    if (record.offset < this.nextOffset) return; // redelivery of something already accounted for
    this.nextOffset = record.offset + 1n;
    this.c.sink.consumed(this.c.partition, this.nextOffset);

    const parsed = parseInvocation(record, this.c.registry, this.c.replyTopicExists);
    if (isRejected(parsed)) {
      this.reject(record, parsed.id, parsed.replyTo, parsed.error);
      return;
    }

    const running = this.active.get(parsed.id);
    if (running) {
      // Same idempotency key while in flight: the new caller waits for the same outcome.
      if (parsed.replyTo && !running.record.replyTo.some((r) => sameTarget(r, parsed.replyTo!))) {
        running.record.replyTo.push(parsed.replyTo);
        this.putInvocation(running.record);
      }
      return;
    }
    const done = this.state.outcomes.get(parsed.id);
    if (done) {
      if (parsed.replyTo) this.c.sink.emit(replyRecord(parsed.replyTo, parsed.id, done.value, done.failure));
      return;
    }

    const resolved = this.c.registry.handler(parsed.target, parsed.handler)!;
    const inv: InvocationRecord = {
      id: parsed.id,
      target: parsed.target,
      key: parsed.key,
      handler: parsed.handler,
      input: parsed.input,
      headers: parsed.headers,
      replyTo: parsed.replyTo ? [parsed.replyTo] : [],
      seq: record.offset,
      idempotencyKey: parsed.idempotencyKey,
      attempt: 1,
      lastError: null,
      acceptedAt: this.c.clock.now(),
    };
    const encoded = codecs.invocation.encode(inv);
    if (encoded.length > this.c.maxRecordBytes) {
      const error = new RecordTooLargeError(`invocation record ${record.partition}@${record.offset} (input and headers)`, encoded.length, this.c.maxRecordBytes);
      this.reject(record, parsed.id, parsed.replyTo, error, true); // a copy would not fit either
      return;
    }
    this.state.invocations.set(inv.id, inv);
    this.c.sink.putChangelog(this.c.partition, encodeChangelogKey({ type: "inv", id: inv.id }), encoded);
    this.schedule(this.track(inv, resolved.mode, []));
    this.updateBackpressure();
  }

  /** Bad input: a DLQ copy with the reason, and a failure reply when the record asked for one. */
  private reject(record: InboundRecord, id: string, replyTo: ReplyTarget | null, error: KvoError, omitValue = false): void {
    const failure = { code: error.code, message: error.message };
    this.rejectedLog.warn(`rejected invocation record: ${failure.message}`);
    this.c.sink.emit(dlqRecord(this.c.dlqTopic, this.c.invocationsTopic, record, failure, omitValue));
    if (replyTo) this.c.sink.emit(replyRecord(replyTo, id, null, failure));
  }

  // ---- scheduling --------------------------------------------------------------------------

  private track(record: InvocationRecord, mode: HandlerMode, journal: JournalEntryRecord[]): Active {
    const active: Active = { record, mode, journal: this.newJournal(record.id, journal), retryTimer: null };
    this.active.set(record.id, active);
    return active;
  }

  private newJournal(id: string, recorded: JournalEntryRecord[]): Journal {
    return new Journal(recorded, (entries) => {
      if (this.closed) return new Promise<void>(() => {});
      const encoded = codecs.journal.encode({ invocationId: id, entries });
      if (encoded.length > this.c.maxRecordBytes) {
        throw new RecordTooLargeError(`the journal of invocation ${id} (${entries.length} entries)`, encoded.length, this.c.maxRecordBytes);
      }
      this.state.journals.set(id, entries);
      this.c.sink.putChangelog(this.c.partition, encodeChangelogKey({ type: "jnl", id }), encoded);
      return this.c.sink.durable();
    });
  }

  private schedule(active: Active): void {
    if (active.mode !== "exclusive") {
      void this.attempt(active);
      return;
    }
    const id = objectId(active.record.target, active.record.key!);
    const queue = this.queues.get(id);
    if (queue) {
      queue.push(active);
      return;
    }
    this.queues.set(id, [active]);
    void this.attempt(active);
  }

  private release(active: Active): void {
    if (active.mode !== "exclusive") return;
    const id = objectId(active.record.target, active.record.key!);
    const queue = this.queues.get(id);
    if (!queue || queue[0] !== active) return;
    queue.shift();
    const next = queue[0];
    if (!next) this.queues.delete(id);
    else void this.attempt(next);
  }

  // ---- attempts ----------------------------------------------------------------------------

  private async attempt(active: Active): Promise<void> {
    if (this.closed) return;
    const { record } = active;
    const resolved = this.c.registry.handler(record.target, record.handler);
    if (!resolved) return; // checked on ingest and start
    const overlay = new StateOverlay();
    const objectState = record.key === null ? undefined : () => this.state.objectState(record.target, record.key!);
    const ctx = new ContextImpl({
      target: record.target,
      key: record.key,
      mode: active.mode,
      request: { id: record.id, headers: record.headers, attempt: record.attempt, ...(record.idempotencyKey ? { idempotencyKey: record.idempotencyKey } : {}) },
      journal: active.journal,
      state: {
        read: (name) => objectState?.()?.get(name),
        names: () => [...(objectState?.()?.keys() ?? [])],
      },
      overlay,
      sleep: (ms) => new Promise((resolve) => this.c.clock.setTimeout(resolve, ms)),
      now: () => this.c.clock.now(),
    });

    let output: Buffer | null = null;
    let error: KvoError | null = null;
    try {
      const input = decodeJson(record.input, `input of ${record.target}.${record.handler}`);
      const value = await resolved.fn(ctx, input);
      output = encodeJson(value, `output of ${record.target}.${record.handler}`);
      // State values need no check here: ctx.set journals its value, so the journal check in
      // newJournal refuses an oversized one at the ctx.set call.
      if (output && output.length > this.c.maxRecordBytes) {
        throw new RecordTooLargeError(`the output of ${record.target}.${record.handler}`, output.length, this.c.maxRecordBytes);
      }
    } catch (thrown) {
      error = toKvoError(thrown);
    }
    ctx.end();
    if (ctx.nonDeterminism) error = ctx.nonDeterminism;
    if (this.closed) return;

    if (!error) {
      this.complete(active, output, null, overlay);
      return;
    }
    const failure = { code: error.code, message: error.message };
    if (error.retryable && record.attempt < resolved.retry.maxAttempts) {
      const delay = backoffDelay(resolved.retry, record.attempt);
      this.c.logger.warn(`${describe(record)} attempt ${record.attempt} failed (${failure.code}: ${failure.message}); retrying in ${delay} ms`);
      active.journal.abandonOpenSlots();
      record.attempt += 1;
      record.lastError = failure;
      this.putInvocation(record);
      active.retryTimer = this.c.clock.setTimeout(() => {
        active.retryTimer = null;
        void this.attempt(active);
      }, delay);
      return;
    }
    if (error.retryable) failure.message = `gave up after ${record.attempt} attempts: ${failure.message}`;
    this.complete(active, null, failure, null);
  }

  /**
   * Ends an invocation: on success its state writes apply, atomically with the outcome; on
   * failure they are discarded. In-flight records are tombstoned, replies emitted, and the
   * next invocation of the key starts.
   */
  private complete(active: Active, output: Buffer | null, failure: FailureRecord | null, overlay: StateOverlay | null): void {
    const { record } = active;
    const p = this.c.partition;
    if (overlay && record.key !== null) this.applyState(record.target, record.key, overlay);
    this.active.delete(record.id);
    this.state.invocations.delete(record.id);
    this.state.journals.delete(record.id);
    this.c.sink.putChangelog(p, encodeChangelogKey({ type: "inv", id: record.id }), null);
    this.c.sink.putChangelog(p, encodeChangelogKey({ type: "jnl", id: record.id }), null);
    if (record.idempotencyKey !== null) {
      const outcome = { invocationId: record.id, value: output, failure, completedAt: this.c.clock.now() };
      this.state.outcomes.set(record.id, outcome);
      this.c.sink.putChangelog(p, encodeChangelogKey({ type: "out", id: record.id }), codecs.outcome.encode(outcome));
    }
    for (const to of record.replyTo) this.c.sink.emit(replyRecord(to, record.id, output, failure));
    if (failure) this.c.logger.warn(`${describe(record)} failed: ${failure.code}: ${failure.message}`);
    this.c.onCompleted?.(record, failure);
    this.release(active);
    this.updateBackpressure();
  }

  private applyState(target: string, key: string, overlay: StateOverlay): void {
    const p = this.c.partition;
    const id = objectId(target, key);
    let names = this.state.objects.get(id);
    if (overlay.clearedAll && names) {
      for (const name of names.keys()) {
        if (!overlay.writes.has(name)) this.c.sink.putChangelog(p, encodeChangelogKey({ type: "st", object: target, key, name }), null);
      }
      names.clear();
    }
    for (const [name, value] of overlay.writes) {
      const changelogKey = encodeChangelogKey({ type: "st", object: target, key, name });
      if (value === null) {
        names?.delete(name);
        this.c.sink.putChangelog(p, changelogKey, null);
      } else {
        if (!names) this.state.objects.set(id, (names = new Map()));
        names.set(name, value);
        this.c.sink.putChangelog(p, changelogKey, codecs.stateValue.encode({ value }));
      }
    }
    if (names && names.size === 0) this.state.objects.delete(id);
  }

  private putInvocation(record: InvocationRecord): void {
    if (this.closed) return;
    this.c.sink.putChangelog(this.c.partition, encodeChangelogKey({ type: "inv", id: record.id }), codecs.invocation.encode(record));
  }

  private updateBackpressure(): void {
    const over = this.active.size >= this.c.maxInFlight;
    const under = this.active.size <= this.c.maxInFlight / 2;
    if (!this.paused && over) {
      this.paused = true;
      this.c.onBackpressure?.(true);
    } else if (this.paused && under) {
      this.paused = false;
      this.c.onBackpressure?.(false);
    }
  }

  /** Drops outcomes older than the idempotency retention (tombstones keep the changelog small). */
  private scheduleSweep(): void {
    const every = Math.max(1_000, Math.min(60_000, Math.floor(this.c.idempotencyRetentionMs / 4)));
    this.sweepTimer = this.c.clock.setTimeout(() => {
      if (this.closed) return;
      const cutoff = this.c.clock.now() - this.c.idempotencyRetentionMs;
      for (const [id, outcome] of this.state.outcomes) {
        if (outcome.completedAt < cutoff) {
          this.state.outcomes.delete(id);
          this.c.sink.putChangelog(this.c.partition, encodeChangelogKey({ type: "out", id }), null);
        }
      }
      this.scheduleSweep();
    }, every);
  }
}

function sameTarget(a: ReplyTarget, b: ReplyTarget): boolean {
  return a.topic === b.topic && a.correlationId === b.correlationId;
}

function describe(r: InvocationRecord): string {
  return `${r.target}${r.key === null ? "" : `/${r.key}`}.${r.handler} (invocation ${r.id})`;
}

