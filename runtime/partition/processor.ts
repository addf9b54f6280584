import { declaredAttemptTimeout } from "../../sdk/definitions.js";
import { AttemptTimeoutError, CancelledError, KvoError, PartitionClosedError, toKvoError } from "../../sdk/errors.js";
import { RESERVED_STATE_PREFIX } from "../../sdk/definitions.js";
import { backoffDelay, DEFAULT_ATTEMPT_TIMEOUT_MS } from "../../sdk/retry.js";
import { encodeChangelogKey } from "../codec/changelog_key.js";
import { decodeJson, encodeJson } from "../codec/json_payload.js";
import { codecs, type FailureRecord, type InvocationRecord, type JournalEntryRecord, type ReplyTarget } from "../codec/records.js";
import type { LazyWrite } from "../commit/batch.js";
import type { BatchToken, CommitSink } from "../commit/sink.js";
import { DEFAULT_MAX_EMIT_BYTES_PER_INVOCATION, emitTopicsToLookUp, unknownEmitTopicError, type EmitPolicy } from "../egress/emit.js";
import { encodeAvroEmits } from "../egress/avro_emit.js";
import type { AvroPayloads } from "../payload/avro_port.js";
import { BadInvocationError, isRejected, parseInvocation, replyRecord } from "../invocation/envelope.js";
import type { ReplyTopicStatus } from "../invocation/reply_topics.js";
import { parseCancelRequest, type CancelRequest } from "../invocation/cancel_request.js";
import { ContextImpl, StateOverlay, type HandlerMode } from "../journal/context_impl.js";
import { Journal } from "../journal/journal.js";
import type { InboundRecord } from "../log/log.js";
import type { Registry } from "../registry.js";
import type { Clock, Logger } from "../support.js";
import { AttemptControl } from "./attempt_control.js";
import { RecordTooLargeError } from "./limits.js";
import { OutcomeCache } from "./outcome_cache.js";
import { capMessage, failureOf, fittedDlqRecord, RECORD_ENVELOPE_BYTES } from "./record_limits.js";
import { ObjectStateSource, objectId, PartitionState } from "./state.js";
import { RateLimitedWarn } from "../rate_limited_warn.js";
import { decodeStoredOutcome, encodeStoredOutcome } from "../journal/stored_outcome.js";
import { InteractionHub } from "./interaction_hub.js";
import { StateWriter } from "./state_writer.js";
import { misroutedError } from "./routing.js";
import {
  describe,
  invocationRecordEstimate,
  invocationSize,
  requestOf,
  sameTarget,
  waitsOnlyForCallsAndTimers,
} from "./invocation_facts.js";

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
  /** Bytes of in-flight invocation records above which the partition asks to be paused. */
  maxInFlightBytes: number;
  /** Outcomes of idempotent invocations kept (count and bytes); the oldest are dropped first. */
  maxOutcomes: number;
  maxOutcomeBytes: number;
  /** Callers that may wait on one in-flight invocation (duplicates with an idempotency key). */
  maxReplyTargets: number;
  /** Asks for this partition's consumption to pause (or resume) for one reason. */
  onBackpressure?: (reason: string, paused: boolean) => void;
  /**
   * Partition count of the invocations topic: object records must be on the partition Kafka's
   * default partitioner gives their key (see misrouted()). Unchecked without it.
   */
  partitions?: number;
  /** Largest value written in one record (see limits.ts). */
  maxRecordBytes: number;
  /** What is known of a reply topic (undefined: unknown, taken as existing; see ReplyTopics). */
  replyTopicStatus?: (topic: string) => ReplyTopicStatus;
  /**
   * Looks topics up so that replyTopicStatus knows them (ReplyTopics.refresh). Used for the
   * topics of ctx.emit whose status is unknown when the invocation completes; without it an
   * unknown topic is taken as existing.
   */
  lookUpTopics?: (topics: string[]) => Promise<void>;
  /** Most bytes one invocation may emit in total (default DEFAULT_MAX_EMIT_BYTES_PER_INVOCATION). */
  maxEmitBytesPerInvocation?: number;
  /** Schema Registry port for ctx.emit with avro(); without it such an emit fails its invocation. */
  avroPayloads?: AvroPayloads;
  /** Observability hook: called once per finished invocation. */
  onCompleted?: (inv: InvocationRecord, failure: FailureRecord | null) => void;
  /** Attempt timeout of handlers that declare none (default DEFAULT_ATTEMPT_TIMEOUT_MS). */
  attemptTimeoutMs?: number;
  /**
   * How long an attempt may wait only for pending entries (calls, timers, awakeables) before it
   * is suspended: dropped from memory but for its records, resumed by replay when an outcome
   * arrives (default DEFAULT_SUSPEND_AFTER_MS).
   */
  suspendAfterMs?: number;
  /** Suspended invocations at which new invocations are refused, `too_many_waiting` (default DEFAULT_MAX_SUSPENDED). */
  maxSuspended?: number;
}

export const DEFAULT_SUSPEND_AFTER_MS = 1_000;
export const DEFAULT_MAX_SUSPENDED = 1_000_000;
/** A workflow run's outcome, kept in its state: a later run of the same id returns it. */
const WORKFLOW_RUN_OUTCOME = `${RESERVED_STATE_PREFIX}run`;

/** Why a waiting attempt was set aside (never an outcome: it resumes by replay). */
class SuspendedSignal extends KvoError {
  constructor() {
    super("the attempt was suspended while it waited for a call, timer or awakeable; it resumes by replay", {
      code: "suspended",
      retryable: true,
    });
  }
}

/** An invocation that holds its key (or, for shared handlers and services, runs): see holders(). */
export interface KeyHolder {
  invocationId: string;
  target: string;
  key: string | null;
  handler: string;
  attempt: number;
  /** When its first attempt in this process started (clock ms). */
  since: number;
  /** Running an attempt, or waiting for its retry timer. */
  phase: "running" | "retry_wait";
}

interface Active {
  record: InvocationRecord;
  mode: HandlerMode;
  journal: Journal;
  /** The pending retry's timer handle (the clock's own type), null when none is pending. */
  retryTimer: unknown;
  /** The attempt running now (its deadline and abort switch), null between attempts. */
  running: AttemptControl | null;
  /** When its first attempt in this process started; null while queued behind its key. */
  firstStartedAt: number | null;
  /** Set by complete(): an attempt settling afterwards (cancelled while it ran) does nothing. */
  ended: boolean;
  /** Counted in inFlightBytes while active. */
  bytes: number;
  /** The input decoded at ingest, for the first attempt only (NOT_DECODED otherwise). */
  decodedInput: unknown;
  /**
   * The batch holding every ordinary write of this invocation's `inv` record (a retry, another
   * caller), while that is one batch and the lazy first write was never made; null otherwise
   * (restored invocations: written in an earlier life).
   */
  invWrittenOnlyIn: BatchToken | null;
  /**
   * Its `inv` record as a lazy write of the batch that accepted it (see ingest), until that
   * batch is sealed, it ends, or the record is written again; null otherwise.
   */
  lazyInv: LazyWrite | null;
  /** No attempt in memory: it waits for a completion (see suspend()). */
  suspended: boolean;
  /** Armed while the running attempt waits only for pending entries: suspends it when it fires. */
  suspendTimer: unknown;
  /** Restored waiting for calls or timers only: its first attempt waits for one of them (see start()). */
  restoredWaiting: boolean;
}

const NOT_DECODED: unique symbol = Symbol("not decoded");
/** Below the limit by more than this, an invocation record's estimate is trusted without encoding it. */
const ESTIMATE_MARGIN_BYTES = 4_096;

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
  /** Backpressure reasons this processor raised (see updateBackpressure). */
  private readonly pausedFor = new Set<string>();
  /** Bytes of the invocation records of `active` (inputs, headers, reply targets). */
  private inFlightBytes = 0;
  private readonly outcomes: OutcomeCache;
  private readonly rejectedLog: RateLimitedWarn;
  private nextOffset: bigint;
  private sweepTimer: unknown = null;
  /** Calls, sends, timers, awakeables: their records and the partition's timers. */
  private readonly hub: InteractionHub;
  private readonly stateWriter: StateWriter;
  private suspendedCount = 0;
  /**
   * Invocations that wait for a completion, and their bytes (part of inFlightBytes): the
   * suspended ones and those queued behind a suspended holder of their key. They never pause
   * the partition: what they wait for arrives on it (see updateBackpressure).
   */
  private waitingCount = 0;
  private waitingBytes = 0;

  constructor(
    private readonly c: ProcessorConfig,
    readonly state: PartitionState,
  ) {
    this.nextOffset = c.nextOffset;
    this.outcomes = new OutcomeCache(
      state.outcomes,
      { retentionMs: c.idempotencyRetentionMs, maxOutcomes: c.maxOutcomes, maxOutcomeBytes: c.maxOutcomeBytes },
      c.partition,
      c.sink,
    );
    this.rejectedLog = new RateLimitedWarn(c.logger, c.clock, `rejected records of partition ${c.partition}`);
    this.stateWriter = new StateWriter(c.partition, state, c.sink);
    this.hub = new InteractionHub({
      stateWriter: this.stateWriter,
      partition: c.partition,
      invocationsTopic: c.invocationsTopic,
      sink: c.sink,
      clock: c.clock,
      logger: c.logger,
      registry: c.registry,
      state,
      find: (id) => this.active.get(id),
      wake: (id) => this.wake(id),
      fail: (id, error) => {
        const active = this.active.get(id);
        if (active) this.endNow(active, failureOf(error));
      },
      reject: (record, error) => this.reject(record, `p${record.partition}-o${record.offset}`, null, error),
    });
  }

  /** Timers pending on this partition (sleeps of in-flight invocations, delayed sends). */
  get pendingTimers(): number {
    return this.hub.pendingTimers;
  }

  /** In-flight invocations suspended while they wait for a completion. */
  get suspended(): number {
    return this.suspendedCount;
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
        this.complete(
          active,
          null,
          {
            code: "unknown_handler",
            message: `${record.target}.${record.handler} is no longer registered in this app; the in-flight invocation ${record.id} was ended`,
          },
          null,
        );
        continue;
      }
      const active = this.track(record, resolved.mode, this.state.journals.get(record.id) ?? []);
      active.restoredWaiting = waitsOnlyForCallsAndTimers(active.journal);
      this.schedule(active);
    }
    this.hub.restore(this.active.values());
    this.scheduleSweep();
  }

  close(): void {
    this.closed = true;
    this.hub.close();
    for (const a of this.active.values()) {
      if (a.retryTimer) this.c.clock.clearTimeout(a.retryTimer);
      if (a.suspendTimer) this.c.clock.clearTimeout(a.suspendTimer);
      // Abandoned here, resumed from the journal wherever the partition is restored.
      a.running?.abort(new PartitionClosedError(this.c.partition));
    }
    if (this.sweepTimer) this.c.clock.clearTimeout(this.sweepTimer);
  }

  ingest(record: InboundRecord): void {
    if (this.closed) return;
    if (record.offset < this.nextOffset) return; // redelivery of something already accounted for
    this.nextOffset = record.offset + 1n;
    this.c.sink.consumed(this.c.partition, this.nextOffset);

    // a callee's outcome or an awakeable's completion: fills the waiting journal entry
    if (this.hub.ingest(record)) return;
    const cancel = parseCancelRequest(record, this.c.replyTopicStatus);
    if (cancel) {
      this.cancelByRecord(record, cancel);
      return;
    }
    const parsed = parseInvocation(record, this.c.registry, this.c.replyTopicStatus);
    if (isRejected(parsed)) {
      this.reject(record, parsed.id, parsed.replyTo, parsed.error);
      return;
    }

    const misrouted = this.c.partitions === undefined ? null : misroutedError(record, parsed.target, parsed.key, this.c.partitions);
    if (misrouted) {
      this.reject(record, parsed.id, parsed.replyTo, misrouted);
      return;
    }
    const running = this.active.get(parsed.id);
    if (running) {
      if (parsed.replyTo) this.joinRunning(running, parsed.id, parsed.replyTo);
      return;
    }
    const done = this.outcomes.get(parsed.id);
    if (done) {
      if (parsed.replyTo) this.c.sink.emit(replyRecord(parsed.replyTo, parsed.id, done.value, done.failure));
      return;
    }

    const maxSuspended = this.c.maxSuspended ?? DEFAULT_MAX_SUSPENDED;
    if (this.waitingCount >= maxSuspended) {
      const error = new BadInvocationError(
        "too_many_waiting",
        `partition ${this.c.partition} has ${this.waitingCount} invocations waiting for calls, timers or awakeables (maxSuspendedPerPartition ` +
          `${maxSuspended}); record ${record.partition}@${record.offset} was refused. Send it again later, or raise the limit (memory).`,
      );
      this.reject(record, parsed.id, parsed.replyTo, error);
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
    // Room is kept for what a retry adds to the record (lastError, capped) and more callers.
    // The record is encoded only when its size may come near the limit: most invocations end
    // in the batch that accepted them and never write it (below).
    const invocationLimit = this.c.maxRecordBytes - RECORD_ENVELOPE_BYTES;
    const estimate = invocationRecordEstimate(inv);
    if (estimate > invocationLimit - ESTIMATE_MARGIN_BYTES) {
      const size = codecs.invocation.encode(inv).length;
      if (size > invocationLimit) {
        const error = new RecordTooLargeError(
          `invocation record ${record.partition}@${record.offset} (input and headers)`,
          size,
          invocationLimit,
        );
        this.reject(record, parsed.id, parsed.replyTo, error);
        return;
      }
    }
    this.state.invocations.set(inv.id, inv);
    // The `inv` record must commit with the offset that consumed the request unless the
    // invocation ends first: written lazily, encoded only if its batch is sealed while it is
    // still in flight, retracted (never written) when it completes in that batch.
    const active = this.track(inv, resolved.mode, []);
    active.lazyInv = this.c.sink.putChangelogLazy(this.c.partition, estimate, () => ({
      key: encodeChangelogKey({ type: "inv", id: inv.id }),
      value: codecs.invocation.encode(inv),
    }));
    active.decodedInput = parsed.decodedInput;
    this.schedule(active);
    this.updateBackpressure();
  }

  /**
   * A duplicate (same idempotency key) of an invocation in flight: the new caller waits for the
   * same outcome, up to maxReplyTargets callers. The list lives in the invocation record, which
   * must keep its room for a retry's lastError (RECORD_ENVELOPE_BYTES): a caller that does not
   * fit is answered `too_many_callers` at once and may ask again later.
   */
  private joinRunning(running: Active, id: string, replyTo: ReplyTarget): void {
    if (running.record.replyTo.some((r) => sameTarget(r, replyTo))) return;
    const refuse = (why: string): void => {
      const failure = failureOf(
        new BadInvocationError(
          "too_many_callers",
          `invocation ${id} ${why}; it is still running: send the request again later to get its outcome.`,
        ),
      );
      this.rejectedLog.warn(failure.message);
      this.c.sink.emit(replyRecord(replyTo, id, null, failure));
    };
    if (running.record.replyTo.length >= this.c.maxReplyTargets) {
      refuse(`already has ${running.record.replyTo.length} callers waiting for its outcome (maxReplyTargets)`);
      return;
    }
    running.record.replyTo.push(replyTo);
    const encoded = codecs.invocation.encode(running.record);
    if (encoded.length > this.c.maxRecordBytes - RECORD_ENVELOPE_BYTES) {
      running.record.replyTo.pop();
      refuse("cannot record another caller within maxRecordBytes");
      return;
    }
    this.writeInvocation(running, encoded);
  }

  /** Bad input: a DLQ copy with the reason, and a failure reply when the record asked for one. */
  private reject(record: InboundRecord, id: string, replyTo: ReplyTarget | null, error: KvoError): void {
    const failure = failureOf(error);
    this.rejectedLog.warn(`rejected invocation record: ${failure.message}`);
    this.c.sink.emit(fittedDlqRecord(this.c.dlqTopic, this.c.invocationsTopic, record, failure, this.c.maxRecordBytes));
    if (replyTo) this.c.sink.emit(replyRecord(replyTo, id, null, failure));
    // a call from another handler: its caller waits for this failure, or it would wait forever
    this.hub.rejectedCall(record, failure);
  }

  // ---- scheduling --------------------------------------------------------------------------

  private track(record: InvocationRecord, mode: HandlerMode, journal: JournalEntryRecord[]): Active {
    const active: Active = {
      record,
      mode,
      journal: this.newJournal(record.id, journal),
      retryTimer: null,
      running: null,
      firstStartedAt: null,
      ended: false,
      bytes: invocationSize(record),
      decodedInput: NOT_DECODED,
      invWrittenOnlyIn: null,
      lazyInv: null,
      suspended: false,
      suspendTimer: null,
      restoredWaiting: false,
    };
    this.active.set(record.id, active);
    this.inFlightBytes += active.bytes;
    return active;
  }

  private newJournal(id: string, recorded: JournalEntryRecord[]): Journal {
    const journal: Journal = new Journal(recorded, (entries, cause) => {
      // Closed, or the invocation ended (completed, cancelled; a step it did not await may
      // still finish): its journal was tombstoned and must not come back. Compared by identity:
      // after the outcome's retention a new invocation may reuse the id.
      if (this.closed || this.active.get(id)?.journal !== journal) return new Promise<void>(() => {});
      const encoded = codecs.journal.encode({ invocationId: id, entries });
      if (encoded.length > this.c.maxRecordBytes) {
        const reads = entries.filter((e) => e.kind === "get" || e.kind === "keys").length; // a shared handler's (journaled) reads
        const counted = `${entries.length} entries${reads > 0 ? `, ${reads} of them state reads of a shared handler` : ""}`;
        throw new RecordTooLargeError(`the journal of invocation ${id} (${counted})`, encoded.length, this.c.maxRecordBytes);
      }
      // A handler's own step starts a commit step of its own: when many handlers write in one
      // turn (a commit woke them all), a full batch is sealed here rather than growing past
      // maxTransactionRecords. A fill belongs to the step that consumed its outcome.
      if (cause === "step") this.c.sink.stepBoundary();
      this.state.journals.set(id, entries);
      this.c.sink.putChangelog(this.c.partition, encodeChangelogKey({ type: "jnl", id }), encoded);
      return this.c.sink.durable();
    });
    return journal;
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
      if (queue[0]!.suspended) this.addWaiting(active, 1);
      return;
    }
    this.queues.set(id, [active]);
    void this.attempt(active);
  }

  private release(active: Active): void {
    if (active.mode !== "exclusive") return;
    const id = objectId(active.record.target, active.record.key!);
    const queue = this.queues.get(id);
    const at = queue ? queue.indexOf(active) : -1;
    if (!queue || at < 0) return;
    queue.splice(at, 1);
    if (at > 0) {
      // a queued invocation left (cancelled): the head keeps the key
      if (queue[0]!.suspended) this.addWaiting(active, -1);
      return;
    }
    const next = queue[0];
    if (!next) this.queues.delete(id);
    else void this.attempt(next);
  }

  // ---- attempts ----------------------------------------------------------------------------

  private async attempt(active: Active): Promise<void> {
    if (this.closed || active.ended) return;
    const { record } = active;
    const resolved = this.c.registry.handler(record.target, record.handler);
    if (!resolved) return; // checked on ingest and start
    const def = this.c.registry.find(record.target);
    const isWorkflowRun = def?.kind === "object" && def.workflow === true && record.handler === "run";
    if (isWorkflowRun && this.answerFinishedWorkflow(active)) return;
    if (active.restoredWaiting) {
      // Restored while it waited for calls or sleeps, which complete by themselves: it stays
      // suspended until one does, instead of replaying now (a million restored waiting
      // invocations must not all replay, and hold closures, at once).
      active.restoredWaiting = false;
      this.markSuspended(active);
      return;
    }
    const control = this.startAttempt(active);
    const overlay = new StateOverlay();
    // What the context needs is built once per processor where it can be (runs for every
    // invocation: closures made here cost an allocation each, and a defineProperty each under
    // tsx, whose esbuild keepNames names every function made at run time).
    const ctx = new ContextImpl({
      target: record.target,
      key: record.key,
      mode: active.mode,
      request: requestOf(record),
      journal: active.journal,
      state: new ObjectStateSource(this.state, record.target, record.key),
      overlay,
      sleep: this.retrySleep,
      now: this.now,
      abort: control,
      emitPolicy: this.emitPolicy,
      interactions: this.hub.portFor(active),
      onBlocked: this.blockedListener(active, control),
      workflow: def?.kind === "object" && def.workflow === true,
      // A workflow run is long: its shared handlers must see its progress, so its writes apply
      // as they happen (it is the key's only writer), and stay even if the run fails.
      ...(isWorkflowRun ? { onStateWrite: this.immediateWriter(record) } : {}),
      checkStateValue: this.checkStateValue,
    });

    let output: Buffer | null = null;
    let error: KvoError | null = null;
    try {
      // The first attempt gets the input decoded at ingest; later ones decode the bytes again
      // (a handler may have mutated the object it got).
      const input =
        active.decodedInput !== NOT_DECODED ? active.decodedInput : decodeJson(record.input, `input of ${record.target}.${record.handler}`);
      active.decodedInput = NOT_DECODED;
      // A hung handler never settles: racing the attempt's interruption (timeout, cancel,
      // close) is what lets its key move on anyway. Its context dies with the abort.
      const value = await Promise.race([resolved.fn(ctx, input), control.interrupted]);
      output = encodeJson(value, `output of ${record.target}.${record.handler}`);
      // State values need no check here: ctx.set journals its value, so the journal check in
      // newJournal refuses an oversized one at the ctx.set call.
      // Replies and outcomes wrap the output: keep room for their ids and headers.
      const outputLimit = this.c.maxRecordBytes - RECORD_ENVELOPE_BYTES;
      if (output && output.length > outputLimit) {
        throw new RecordTooLargeError(`the output of ${record.target}.${record.handler}`, output.length, outputLimit);
      }
      // ctx.emit is synchronous, so the existence of its topics is checked here, before the
      // records can join a transaction (a missing topic would fail it, and every retry of it).
      const lookup = this.lookUpEmitTopics(overlay);
      if (lookup) await Promise.race([lookup, control.interrupted]);
      this.refuseMissingEmitTopics(overlay, record);
      // ctx.emit with avro(): the registry frames the values now, before anything is written.
      const avro = encodeAvroEmits(overlay.emits, this.c, control);
      if (avro) await Promise.race([avro, control.interrupted]);
    } catch (thrown) {
      error = toKvoError(thrown);
    }
    control.settle();
    if (active.suspendTimer) this.c.clock.clearTimeout(active.suspendTimer);
    active.suspendTimer = null;
    // Suspended: suspend() set everything aside already, and a completion may have resumed it since.
    if (error instanceof SuspendedSignal) return;
    if (active.running === control) active.running = null;
    ctx.end(); // no journal check for an aborted attempt: its context was abandoned
    if (ctx.nonDeterminism) error = ctx.nonDeterminism;
    if (this.closed || active.ended) return; // closed, or cancelled while it ran (already completed)

    if (!error) {
      this.complete(active, output, null, overlay);
      return;
    }
    const failure = failureOf(error);
    if (error.retryable && record.attempt < resolved.retry.maxAttempts) {
      const delay = backoffDelay(resolved.retry, record.attempt);
      this.c.logger.warn(
        `${describe(record)} attempt ${record.attempt} failed (${failure.code}: ${failure.message}); retrying in ${delay} ms`,
      );
      active.journal.abandonOpenSlots();
      record.attempt += 1;
      record.lastError = failure;
      this.putInvocation(active);
      active.retryTimer = this.c.clock.setTimeout(() => {
        active.retryTimer = null;
        void this.attempt(active);
      }, delay);
      return;
    }
    if (error.retryable) failure.message = capMessage(`gave up after ${record.attempt} attempts: ${failure.message}`);
    this.complete(active, null, failure, null);
  }

  // ---- suspension -------------------------------------------------------------------------

  /**
   * The running attempt started or stopped waiting only for pending entries (a call, a timer,
   * an awakeable: no ctx.run action running). Waiting longer than suspendAfterMs suspends it.
   */
  private onBlocked(active: Active, control: AttemptControl, blocked: boolean): void {
    if (active.suspendTimer) this.c.clock.clearTimeout(active.suspendTimer);
    active.suspendTimer = null;
    if (!blocked || this.closed || active.running !== control) return;
    active.suspendTimer = this.c.clock.setTimeout(() => {
      active.suspendTimer = null;
      if (!this.closed && active.running === control && !control.aborted) this.suspend(active, control);
    }, this.c.suspendAfterMs ?? DEFAULT_SUSPEND_AFTER_MS);
  }

  /**
   * Sets a waiting attempt aside: its context dies (its promises never settle), its open
   * journal slots are dropped, and only the invocation's records stay in memory (no closures,
   * no JS timer: its sleeps are in the partition's TimerQueue). It keeps its key. A completion
   * for it (wake) starts a new attempt that replays the journal up to where it waited.
   */
  private suspend(active: Active, control: AttemptControl): void {
    active.running = null;
    this.markSuspended(active);
    active.journal.abandonOpenSlots();
    control.abort(new SuspendedSignal());
  }

  private markSuspended(active: Active): void {
    active.suspended = true;
    this.suspendedCount++;
    this.addWaiting(active, 1);
    for (const queued of this.queuedBehind(active)) this.addWaiting(queued, 1);
    this.updateBackpressure();
  }

  /** An entry of this invocation was completed: a suspended one resumes (a running one was woken by the fill). */
  private wake(invocationId: string): void {
    const active = this.active.get(invocationId);
    if (!active || !active.suspended || active.ended || this.closed) return;
    this.unsuspend(active);
    void this.attempt(active);
  }

  private unsuspend(active: Active): void {
    if (!active.suspended) return;
    active.suspended = false;
    this.suspendedCount--;
    this.addWaiting(active, -1);
    for (const queued of this.queuedBehind(active)) this.addWaiting(queued, -1);
    this.updateBackpressure();
  }

  /** The invocations queued behind `active` when it holds its key (empty otherwise). */
  private queuedBehind(active: Active): Active[] {
    if (active.mode !== "exclusive") return [];
    const queue = this.queues.get(objectId(active.record.target, active.record.key!));
    return queue && queue[0] === active ? queue.slice(1) : [];
  }

  private addWaiting(active: Active, sign: 1 | -1): void {
    this.waitingCount += sign;
    this.waitingBytes += sign * active.bytes;
  }

  /** Ends an invocation at once with a failure, whatever it is doing (its attempt is abandoned). */
  private endNow(active: Active, failure: FailureRecord): void {
    if (active.ended) return;
    if (active.retryTimer) this.c.clock.clearTimeout(active.retryTimer);
    active.retryTimer = null;
    active.running?.abort(new CancelledError(failure.message));
    active.running = null;
    this.complete(active, null, failure, null);
  }

  /** A workflow's run that already finished: this run gets that outcome and does not run again. */
  private answerFinishedWorkflow(active: Active): boolean {
    const { record } = active;
    const stored = this.stateWriter.read(record.target, record.key!, WORKFLOW_RUN_OUTCOME);
    if (stored === undefined) return false;
    const outcome = decodeStoredOutcome(stored, `outcome of workflow ${record.target}/${record.key}`);
    this.complete(active, outcome.value, outcome.failure, null);
    return true;
  }

  /** A workflow run's state write, applied and written at once (see ContextOptions.onStateWrite). */
  private writeNow(record: InvocationRecord, name: string | null, value: Buffer | null): void {
    if (this.closed || record.key === null) return;
    if (name === null) this.stateWriter.apply(record.target, record.key, { writes: new Map(), clearedAll: true });
    else this.stateWriter.write(record.target, record.key, name, value);
  }

  /** Keeps a workflow run's outcome in its state (until cleared), so later runs of the id return it. */
  private keepWorkflowOutcome(record: InvocationRecord, output: Buffer | null, failure: FailureRecord | null): void {
    if (this.stateWriter.read(record.target, record.key!, WORKFLOW_RUN_OUTCOME) !== undefined) return;
    const bytes = encodeStoredOutcome({ value: output, failure }, `outcome of workflow ${record.target}/${record.key}`);
    this.stateWriter.write(record.target, record.key!, WORKFLOW_RUN_OUTCOME, bytes);
  }

  /** Starts an attempt's deadline: the handler's own timeout, else its definition's, else the runtime's. */
  private startAttempt(active: Active): AttemptControl {
    const { record } = active;
    const def = this.c.registry.find(record.target);
    const timeoutMs = (def && declaredAttemptTimeout(def, record.handler)) ?? this.c.attemptTimeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS;
    const attempt = record.attempt;
    const control = new AttemptControl(
      this.c.clock,
      timeoutMs,
      () => new AttemptTimeoutError(`${describe(record)} attempt ${attempt}`, timeoutMs),
    );
    active.running = control;
    active.firstStartedAt ??= control.startedAt;
    return control;
  }

  // ---- cancellation ------------------------------------------------------------------------

  /**
   * Fails an in-flight invocation with the terminal code `cancelled`, whatever it is doing:
   * running (its attempt is aborted, its context dies), waiting for a retry, or queued behind
   * another invocation of its key. Its state writes are discarded, its callers get the failure,
   * and the key moves on. Everything is written synchronously, into the batch that also
   * carries whatever consumed the request (a cancel record's offset), so a cancel that was
   * consumed is never lost. Returns false when the invocation is not in flight here.
   */
  cancel(invocationId: string, requestedBy: string): boolean {
    if (this.closed) return false;
    const active = this.active.get(invocationId);
    if (!active) return false;
    const error = new CancelledError(`${describe(active.record)} was cancelled (${requestedBy})`);
    // Waiting for calls, timers or awakeables (running or suspended): those waits fail with
    // `cancelled` inside the handler, so its catch/finally code runs (compensation), and the
    // callees of its pending calls are cancelled too. The handler then ends as it decides.
    if ((active.running || active.suspended) && this.hub.cancelWaits(active, error.message)) return true;
    this.endNow(active, failureOf(error));
    this.hub.cancelCallees(active);
    return true;
  }

  /** A `kvo-cancel` record (docs/record-format.md): cancels, and answers when asked to. */
  private cancelByRecord(record: InboundRecord, request: CancelRequest): void {
    const at = `cancel record ${record.partition}@${record.offset}`;
    if (request.replyProblem) this.rejectedLog.warn(`${at}: no reply will be sent: ${request.replyProblem}`);
    if (request.invocationId === "") {
      const error = new BadInvocationError(
        "invalid_cancel",
        `${at}: header kvo-cancel is empty; set it to the id of the invocation to cancel (replies carry it in kvo-invocation-id).`,
      );
      this.reject(record, `p${record.partition}-o${record.offset}`, request.replyTo, error);
      return;
    }
    if (this.cancel(request.invocationId, `by ${at}`)) {
      if (request.replyTo)
        this.c.sink.emit(
          replyRecord(
            request.replyTo,
            request.invocationId,
            encodeJson({ invocationId: request.invocationId, cancelled: true }, "cancel reply"),
            null,
          ),
        );
      return;
    }
    const failure = {
      code: "not_in_flight",
      message:
        `${at}: invocation ${request.invocationId} is not in flight on partition ${this.c.partition}, nothing was cancelled: it already finished, ` +
        `does not exist, or the record's key routed it elsewhere (key the cancel record like the invocation, "<Object>/<key>").`,
    };
    this.rejectedLog.warn(failure.message);
    if (request.replyTo) this.c.sink.emit(replyRecord(request.replyTo, request.invocationId, null, failure));
  }

  /** Invocations holding their key (running or waiting for a retry), in no particular order. */
  holders(): KeyHolder[] {
    const out: KeyHolder[] = [];
    for (const a of this.active.values()) {
      // queued behind its key, or suspended: waiting for a completion (counted in stats().suspended;
      // listing a million of them on every stats() call would cost more than the report is worth)
      if (a.firstStartedAt === null || a.suspended) continue;
      const r = a.record;
      out.push({
        invocationId: r.id,
        target: r.target,
        key: r.key,
        handler: r.handler,
        attempt: r.attempt,
        since: a.firstStartedAt,
        phase: a.running ? "running" : "retry_wait",
      });
    }
    return out;
  }

  /**
   * Ends an invocation: on success its state writes apply, atomically with the outcome; on
   * failure they are discarded. In-flight records are tombstoned, replies emitted, and the
   * next invocation of the key starts.
   */
  private complete(active: Active, output: Buffer | null, failure: FailureRecord | null, overlay: StateOverlay | null): void {
    const { record } = active;
    const p = this.c.partition;
    active.ended = true;
    this.unsuspend(active);
    if (active.suspendTimer) this.c.clock.clearTimeout(active.suspendTimer);
    active.suspendTimer = null;
    const def = this.c.registry.find(record.target);
    if (def?.kind === "object" && def.workflow === true && record.handler === "run") this.keepWorkflowOutcome(record, output, failure);
    if (overlay && record.key !== null) this.stateWriter.apply(record.target, record.key, overlay);
    // ctx.emit records: in this transaction, with the state and the outcome, only on success
    if (overlay) for (const emitted of overlay.emits) this.c.sink.emit(emitted);
    this.active.delete(record.id);
    this.inFlightBytes -= active.bytes;
    this.state.invocations.delete(record.id);
    // A journal is written only once it holds a step; most state-only invocations never have one.
    const hadJournal = this.state.journals.delete(record.id);
    // An invocation that ends in the batch that accepted it needs no `inv` record at all.
    // (its lazy `inv` record, still in the open batch, is simply taken back).
    const invNeverWritten = active.lazyInv !== null && this.c.sink.retractLazy(active.lazyInv);
    active.lazyInv = null;
    if (!invNeverWritten) {
      const invKey = encodeChangelogKey({ type: "inv", id: record.id });
      if (!active.invWrittenOnlyIn || !this.c.sink.retract(p, invKey, active.invWrittenOnlyIn)) this.c.sink.putChangelog(p, invKey, null);
    }
    if (hadJournal) this.c.sink.putChangelog(p, encodeChangelogKey({ type: "jnl", id: record.id }), null);
    if (record.idempotencyKey !== null) {
      this.outcomes.add({ invocationId: record.id, value: output, failure, completedAt: this.c.clock.now() });
    }
    for (const to of record.replyTo) this.c.sink.emit(replyRecord(to, record.id, output, failure));
    this.hub.completed(record, output, failure); // a caller waiting in another invocation
    if (failure) this.c.logger.warn(`${describe(record)} failed: ${failure.code}: ${failure.message}`);
    this.c.onCompleted?.(record, failure);
    this.release(active);
    this.updateBackpressure();
    this.c.sink.stepBoundary(); // everything of this completion is written: a full batch may be cut here
  }

  private emitPolicyOnce: EmitPolicy | null = null;

  /** What ctx.emit may do in this partition's invocations (see egress/emit.ts); made once. */
  private get emitPolicy(): EmitPolicy {
    return (this.emitPolicyOnce ??= {
      isReserved: (topic) =>
        topic === this.c.invocationsTopic || topic === this.c.dlqTopic || this.c.replyTopicStatus?.(topic) === "reserved",
      maxRecordBytes: this.c.maxRecordBytes,
      // at least one record of the largest size
      maxTotalBytes: Math.max(this.c.maxEmitBytesPerInvocation ?? DEFAULT_MAX_EMIT_BYTES_PER_INVOCATION, this.c.maxRecordBytes),
    });
  }

  /**
   * ctx.run's backoff between retries. After close() it never ends: a retry loop stops there,
   * its step stays pending (the new owner of the partition resumes the invocation from its journal).
   */
  private readonly retrySleep = (ms: number): Promise<void> =>
    new Promise<void>((resolve) => {
      if (this.closed) return;
      this.c.clock.setTimeout(() => {
        if (!this.closed) resolve();
      }, ms);
    });

  private readonly now = (): number => this.c.clock.now();

  /** Refuses a state value at ctx.set that could not be written (the state record wraps it). */
  private readonly checkStateValue = (name: string, bytes: Buffer, target: string, key: string | null): void => {
    // the state record wraps the value in a version byte and a small Avro header
    const limit = this.c.maxRecordBytes - RECORD_ENVELOPE_BYTES;
    if (bytes.length > limit) throw new RecordTooLargeError(`state "${name}" of ${target}/${key ?? ""}`, bytes.length, limit);
  };

  /** The attempt's onBlocked listener (a function returned, not a named closure: see attempt()). */
  private blockedListener(active: Active, control: AttemptControl): (blocked: boolean) => void {
    return (blocked) => this.onBlocked(active, control, blocked);
  }

  /** A workflow run's onStateWrite: its writes apply at once (see writeNow). */
  private immediateWriter(record: InvocationRecord): (name: string | null, value: Buffer | null) => void {
    return (name, value) => this.writeNow(record, name, value);
  }

  /** Looks up the emitted topics not known now; null (no wait) when all are known. */
  private lookUpEmitTopics(overlay: StateOverlay): Promise<void> | null {
    if (overlay.emits.length === 0 || !this.c.lookUpTopics) return null;
    const unknown = emitTopicsToLookUp(overlay.emits, (topic) => this.c.replyTopicStatus?.(topic));
    return unknown.length > 0 ? this.c.lookUpTopics(unknown) : null;
  }

  /** Fails the invocation (before anything is written) when it emitted to a missing topic. */
  private refuseMissingEmitTopics(overlay: StateOverlay, record: InvocationRecord): void {
    for (const emitted of overlay.emits) {
      if (this.c.replyTopicStatus?.(emitted.topic) === "missing") throw unknownEmitTopicError(emitted.topic, describe(record));
    }
  }

  private putInvocation(active: Active): void {
    if (this.closed) return;
    this.writeInvocation(active, codecs.invocation.encode(active.record));
  }

  /**
   * Writes the `inv` record again (a retry, another caller). Its lazy first write is taken
   * back if still open; invWrittenOnlyIn then names the batch of this write, so an end in
   * that batch can retract it too. A write in a later batch than the first keeps it null.
   */
  private writeInvocation(active: Active, encoded: Buffer): void {
    const neverWritten = active.lazyInv !== null && this.c.sink.retractLazy(active.lazyInv);
    active.lazyInv = null;
    const batch = this.c.sink.putChangelog(this.c.partition, encodeChangelogKey({ type: "inv", id: active.record.id }), encoded);
    if (neverWritten) active.invWrittenOnlyIn = batch;
    else if (active.invWrittenOnlyIn !== batch) active.invWrittenOnlyIn = null;
  }

  /** Pauses consumption at a limit, resumes below half of it (hysteresis: no flapping). */
  private updateBackpressure(): void {
    // Waiting invocations (suspended, or queued behind a suspended holder of their key) must
    // never pause the partition: the completions they wait for arrive on it (a paused partition
    // waiting for its own completions would wait forever). Their limit refuses new invocations
    // instead (ingest).
    this.pressure("in-flight-count", this.active.size - this.waitingCount, this.c.maxInFlight);
    this.pressure("in-flight-bytes", this.inFlightBytes - this.waitingBytes, this.c.maxInFlightBytes);
  }

  private pressure(reason: string, value: number, limit: number): void {
    if (!this.pausedFor.has(reason) && value >= limit) {
      this.pausedFor.add(reason);
      this.c.onBackpressure?.(reason, true);
    } else if (this.pausedFor.has(reason) && value <= limit / 2) {
      this.pausedFor.delete(reason);
      this.c.onBackpressure?.(reason, false);
    }
  }

  /** Drops outcomes older than the idempotency retention (tombstones keep the changelog small). */
  private scheduleSweep(): void {
    this.sweepTimer = this.c.clock.setTimeout(() => {
      if (this.closed) return;
      this.outcomes.sweep(this.c.clock.now());
      this.scheduleSweep();
    }, this.outcomes.sweepEveryMs);
  }
}
