import { RESERVED_STATE_PREFIX } from "../../sdk/definitions.js";
import { CancelledError, TerminalError, toKvoError, type KvoError } from "../../sdk/errors.js";
import { encodeChangelogKey } from "../codec/changelog_key.js";
import { decodeJson } from "../codec/json_payload.js";
import { codecs, type FailureRecord, type InvocationRecord, type TimerRecord } from "../codec/records.js";
import type { CommitSink } from "../commit/sink.js";
import { awakeableIdProblem, formatAwakeableId, parseAwakeableId } from "../invocation/awakeable_id.js";
import { awakeableCompletionRecord, awakeableHeader } from "../invocation/awakeable_record.js";
import {
  CALL_HEADERS,
  callCompletionRecord,
  callerOf,
  calleeInvocationId,
  callRequestRecord,
  MAX_CALL_PATH,
  parseCallCompletion,
} from "../invocation/call_headers.js";
import { H } from "../invocation/headers.js";
import type { HandlerMode } from "../journal/context_impl.js";
import type { InteractionPort } from "../journal/interactions.js";
import type { EntryCompletion, Journal } from "../journal/journal.js";
import { decodeStoredOutcome, encodeStoredOutcome } from "../journal/stored_outcome.js";
import type { InboundRecord } from "../log/log.js";
import type { Registry } from "../registry.js";
import type { Clock, Logger } from "../support.js";
import { objectId, type PartitionState } from "./state.js";
import { TimerQueue } from "./timer_queue.js";
import type { StateWriter } from "./state_writer.js";

/** An in-flight invocation as the hub sees it. */
export interface WaitingInvocation {
  readonly record: InvocationRecord;
  readonly mode: HandlerMode;
  readonly journal: Journal;
}

export interface HubHost {
  partition: number;
  invocationsTopic: string;
  sink: CommitSink;
  clock: Clock;
  logger: Logger;
  registry: Registry;
  state: PartitionState;
  /** Writes the promises' values into the workflow's state. */
  stateWriter: StateWriter;
  /** The in-flight invocation with this id on this partition. */
  find(invocationId: string): WaitingInvocation | undefined;
  /** An entry of this invocation was completed: resume it if it is suspended (no-op when it runs). */
  wake(invocationId: string): void;
  /** The invocation cannot take a completion (its journal would be too large): fail it. */
  fail(invocationId: string, error: KvoError): void;
  /** A record that completes nothing: to the DLQ with the reason. */
  reject(record: InboundRecord, error: KvoError): void;
}

const CALL_REQUEST_HEADER_NAMES = [CALL_HEADERS.caller, CALL_HEADERS.callerPartition, CALL_HEADERS.callerEntry, CALL_HEADERS.callPath];
const WAKE = "w";
const SEND = "s";
/** Entries a cancellation fails: what the invocation waits for. */
const WAITING_KINDS = new Set(["call", "sleep", "awakeable", "promise"]);

/**
 * One partition's side of calls, sends, timers, awakeables and workflow promises:
 *  - gives each invocation's context its InteractionPort (what a call or send writes);
 *  - takes in completions (a callee's outcome, an awakeable's resolution) and due timers, and
 *    fills the waiting journal entry in the batch that consumed them;
 *  - keeps the partition's timers (sleeps of in-flight invocations, delayed sends kept in the
 *    changelog) in one TimerQueue;
 *  - answers callers when a callee completes, and cancels callees when a caller is cancelled.
 * The processor owns the invocations; this never runs handler code.
 */
export class InteractionHub {
  private readonly timers: TimerQueue;
  /** Workflow promises waited for: "<object id>\0<name>" → waiting (invocation id, entry). */
  private readonly promiseWatches = new Map<string, Array<{ invocationId: string; entry: number }>>();

  constructor(private readonly h: HubHost) {
    this.timers = new TimerQueue(
      h.clock,
      (id) => this.onDue(id),
      () => h.sink.durable(),
    );
  }

  /** Timers pending (sleeps of in-flight invocations and delayed sends). */
  get pendingTimers(): number {
    return this.timers.size;
  }

  /** After a restore: arms the kept delayed sends and the pending sleeps, watches pending promises. */
  restore(invocations: Iterable<WaitingInvocation>): void {
    for (const timer of this.h.state.timers.values()) this.timers.add(SEND + timer.id, timer.fireAt);
    for (const inv of invocations) {
      for (const { index, entry } of inv.journal.pending()) {
        if (entry.kind === "sleep" && entry.at !== null && entry.at !== undefined) this.timers.add(wakeId(inv.record.id, index), entry.at);
        if (entry.kind === "promise" && inv.record.key !== null) this.watchPromise(inv.record, entry.name, index);
      }
    }
  }

  close(): void {
    this.timers.close();
  }

  // ---- what a context may do ---------------------------------------------------------------

  /**
   * The InteractionPort of an attempt of `inv`. One small object per attempt, no closures: an
   * attempt is made per invocation (a backlog makes thousands a second) and most never call,
   * send or sleep (under tsx, every named closure also costs a defineProperty of its name).
   */
  portFor(inv: WaitingInvocation): InteractionPort {
    return new InvocationPort(this, this.h, inv);
  }

  /** Keeps a delayed send as a durable timer (changelog) and arms it (for InvocationPort). */
  keepDelayedSend(timer: TimerRecord): void {
    this.h.state.timers.set(timer.id, timer);
    this.h.sink.putChangelog(this.h.partition, encodeChangelogKey({ type: "tmr", id: timer.id }), codecs.timer.encode(timer));
    this.timers.add(SEND + timer.id, timer.fireAt);
  }

  /** Wakes the sleep at journal `entry` of an invocation at `at` (for InvocationPort). */
  wakeAt(invocationId: string, entry: number, at: number): void {
    this.timers.add(wakeId(invocationId, entry), at);
  }

  // ---- completions arriving ----------------------------------------------------------------

  /** Takes in a completion record (a callee's outcome, an awakeable's); false when the record is not one. */
  ingest(record: InboundRecord): boolean {
    const call = parseCallCompletion(record);
    if (call) {
      if ("problem" in call) {
        this.h.reject(
          record,
          new TerminalError(`record ${record.partition}@${record.offset}: ${call.problem}`, { code: "invalid_completion" }),
        );
        return true;
      }
      const inv = this.h.find(call.callerId);
      // The caller ended meanwhile (cancelled, failed): nobody waits for this outcome.
      if (!inv) return true;
      const entry = inv.journal.recorded[call.entry];
      if (!entry || entry.kind !== "call" || !entry.ref?.startsWith(`${call.calleeId} `)) {
        const error = new TerminalError(
          `record ${record.partition}@${record.offset}: invocation ${call.callerId} has no call to ${call.calleeId} at journal entry ${call.entry}`,
          { code: "invalid_completion" },
        );
        this.h.reject(record, error);
        return true;
      }
      if (entry.done !== false) return true; // completed already (its caller was cancelled): the first completion stands
      this.fillAndWake(inv, call.entry, { value: call.value, failure: call.failure });
      return true;
    }
    const awakeable = awakeableHeader(record);
    if (awakeable === null) return false;
    this.completeAwakeable(record, awakeable);
    return true;
  }

  private completeAwakeable(record: InboundRecord, id: string): void {
    const at = `record ${record.partition}@${record.offset}`;
    const invalid = (why: string): void => this.h.reject(record, new TerminalError(`${at}: ${why}`, { code: "invalid_awakeable" }));
    const parts = parseAwakeableId(id);
    if (!parts) return invalid(awakeableIdProblem(id) ?? `"${id}" is not an awakeable id`);
    if (parts.partition !== this.h.partition) {
      return invalid(`awakeable ${id} lives on partition ${parts.partition}; produce its completion to that partition explicitly`);
    }
    const failed = record.headers[H.status]?.toString("utf8") === "failed";
    let completion: EntryCompletion;
    if (failed) {
      const failure: FailureRecord = {
        code: record.headers[H.errorCode]?.toString("utf8") || "awakeable_rejected",
        message: record.headers[H.errorMessage]?.toString("utf8") || `awakeable ${id} was rejected`,
      };
      completion = { value: null, failure };
    } else {
      const value = record.value && record.value.length > 0 ? record.value : null;
      try {
        decodeJson(value, `value for awakeable ${id}`);
      } catch (error) {
        return invalid(`${(error as Error).message}: the value must be JSON (or empty for null)`);
      }
      completion = { value, failure: null };
    }
    const inv = this.h.find(parts.invocationId);
    const entry = inv?.journal.recorded[parts.entry];
    if (!inv || !entry || entry.kind !== "awakeable" || entry.ref !== id || entry.done !== false) {
      const why = !inv ? `its invocation ${parts.invocationId} is not in flight` : "it was completed already or never created";
      this.h.reject(
        record,
        new TerminalError(`${at}: awakeable ${id} is not pending: ${why}; nothing changed`, { code: "unknown_awakeable" }),
      );
      return;
    }
    this.fillAndWake(inv, parts.entry, completion);
  }

  private fillAndWake(inv: WaitingInvocation, index: number, completion: EntryCompletion): void {
    let filled: boolean;
    try {
      filled = inv.journal.fill(index, completion);
    } catch (error) {
      this.h.fail(inv.record.id, toKvoError(error));
      return;
    }
    if (filled) this.h.wake(inv.record.id);
  }

  // ---- timers ------------------------------------------------------------------------------

  private onDue(queued: string): void {
    if (queued.startsWith(SEND)) {
      const timer = this.h.state.timers.get(queued.slice(SEND.length));
      if (!timer) return;
      this.h.sink.emit({ topic: this.h.invocationsTopic, key: timer.key, value: timer.value, headers: timer.headers });
      this.h.state.timers.delete(timer.id);
      this.h.sink.putChangelog(this.h.partition, encodeChangelogKey({ type: "tmr", id: timer.id }), null);
    } else {
      const { invocationId, entry } = parseWakeId(queued);
      const inv = this.h.find(invocationId);
      const recorded = inv?.journal.recorded[entry];
      if (!inv || recorded?.kind !== "sleep" || recorded.done !== false) return; // ended, or cancelled
      this.fillAndWake(inv, entry, { value: null, failure: null });
    }
    this.h.sink.stepBoundary();
  }

  // ---- callers and cancellation ------------------------------------------------------------

  /** A callee completed: its outcome goes to the caller's partition (in this same batch). */
  completed(record: InvocationRecord, output: Buffer | null, failure: FailureRecord | null): void {
    const caller = callerOf(record.headers);
    if (caller) this.h.sink.emit(callCompletionRecord(this.h.invocationsTopic, caller, record.id, output, failure));
  }

  /**
   * A call request that became no invocation (bad record, refused): its caller gets the
   * failure as the call's outcome, in the batch that carries the DLQ copy.
   */
  rejectedCall(record: InboundRecord, failure: FailureRecord): void {
    const headers: Record<string, string> = {};
    for (const name of CALL_REQUEST_HEADER_NAMES) {
      const value = record.headers[name];
      if (value !== undefined) headers[name] = value.toString("utf8");
    }
    const caller = callerOf(headers);
    if (!caller) return;
    const calleeId = calleeInvocationId(caller.invocationId, caller.entry);
    this.h.sink.emit(callCompletionRecord(this.h.invocationsTopic, caller, calleeId, null, failure));
  }

  /**
   * Fails what a cancelled invocation waits for (calls, sleeps, awakeables, promises) with
   * `cancelled`, so its code goes on in its catch/finally blocks (compensation), and cancels
   * the callees of its pending calls. Returns false when it waits for nothing.
   */
  cancelWaits(inv: WaitingInvocation, reason: string): boolean {
    const waiting = inv.journal.pending().filter(({ entry }) => WAITING_KINDS.has(entry.kind));
    if (waiting.length === 0) return false;
    this.cancelCallees(inv);
    const failure = { code: new CancelledError(reason).code, message: reason };
    for (const { index } of waiting) {
      try {
        inv.journal.fill(index, { value: null, failure });
      } catch (error) {
        this.h.fail(inv.record.id, toKvoError(error));
        return true;
      }
    }
    this.h.wake(inv.record.id);
    return true;
  }

  /** Cancels the callees of this invocation's pending calls (a `kvo-cancel` record each, in this batch). */
  cancelCallees(inv: WaitingInvocation): void {
    for (const { entry } of inv.journal.pending()) {
      if (entry.kind !== "call" || !entry.ref) continue;
      const space = entry.ref.indexOf(" ");
      const calleeId = entry.ref.slice(0, space);
      const recordKey = entry.ref.slice(space + 1);
      this.h.sink.emit({
        topic: this.h.invocationsTopic,
        key: Buffer.from(recordKey),
        value: null,
        headers: { [H.cancel]: Buffer.from(calleeId) },
      });
    }
  }

  // ---- workflow promises -------------------------------------------------------------------

  /** The first completion of a workflow's promise is kept in its state and completes its waiters. */
  resolvePromise(target: string, key: string, name: string, completion: EntryCompletion): void {
    const stateName = promiseStateName(name);
    if (this.h.stateWriter.read(target, key, stateName) !== undefined) return; // first completion wins
    this.h.stateWriter.write(target, key, stateName, encodeStoredOutcome(completion, `durable promise "${name}"`));
    const watchKey = `${objectId(target, key)}\u0000${name}`;
    const watchers = this.promiseWatches.get(watchKey) ?? [];
    this.promiseWatches.delete(watchKey);
    for (const w of watchers) {
      const inv = this.h.find(w.invocationId);
      if (inv && inv.journal.recorded[w.entry]?.done === false) this.fillAndWake(inv, w.entry, completion);
    }
  }

  /** The promise entry at `entry` of `record` waits for promise `name` (completed at once when it is resolved). */
  watchPromise(record: InvocationRecord, name: string, entry: number): void {
    if (record.key === null) return;
    const stored = this.h.state.objectState(record.target, record.key)?.get(promiseStateName(name));
    const inv = this.h.find(record.id);
    if (stored !== undefined) {
      // resolved between the entry's start and its hand-over
      if (inv) this.fillAndWake(inv, entry, decodeStoredOutcome(stored, `durable promise "${name}"`));
      return;
    }
    const watchKey = `${objectId(record.target, record.key)}\u0000${name}`;
    let list = this.promiseWatches.get(watchKey);
    if (!list) this.promiseWatches.set(watchKey, (list = []));
    list.push({ invocationId: record.id, entry });
  }
}

/** What one attempt's context may do on this partition (see InteractionHub.portFor). */
class InvocationPort implements InteractionPort {
  constructor(
    private readonly hub: InteractionHub,
    private readonly h: HubHost,
    private readonly inv: WaitingInvocation,
  ) {}

  handlerMode(target: string, handler: string): HandlerMode | null {
    return this.h.registry.handler(target, handler)?.mode ?? null;
  }

  heldChain(): string[] {
    const { record, mode } = this.inv;
    const path = callerOf(record.headers)?.path ?? [];
    return mode === "exclusive" && record.key !== null ? [...path, objectId(record.target, record.key)].slice(-MAX_CALL_PATH) : path;
  }

  calleeId(entry: number): string {
    return calleeInvocationId(this.inv.record.id, entry);
  }

  emitCall(call: { recordKey: string; handler: string; input: Buffer | null; entry: number }): void {
    const h = this.h;
    h.sink.emit(
      callRequestRecord({
        topic: h.invocationsTopic,
        recordKey: call.recordKey,
        handler: call.handler,
        input: call.input,
        caller: { invocationId: this.inv.record.id, partition: h.partition, entry: call.entry },
        path: this.heldChain(),
      }),
    );
  }

  emitSend(send: { recordKey: string; handler: string; input: Buffer | null; entry: number; fireAt: number | null }): void {
    const key = Buffer.from(send.recordKey);
    const headers = { [H.handler]: Buffer.from(send.handler) };
    if (send.fireAt === null) {
      this.h.sink.emit({ topic: this.h.invocationsTopic, key, value: send.input, headers });
      return;
    }
    this.hub.keepDelayedSend({ id: `${this.inv.record.id}:${send.entry}`, fireAt: send.fireAt, key, value: send.input, headers });
  }

  wakeAt(entry: number, at: number): void {
    this.hub.wakeAt(this.inv.record.id, entry, at);
  }

  now(): number {
    return this.h.clock.now();
  }

  awakeableId(entry: number): string {
    return formatAwakeableId(this.h.partition, entry, this.inv.record.id);
  }

  checkAwakeableId(id: string): void {
    const problem = awakeableIdProblem(id);
    if (problem) throw new TerminalError(problem, { code: "invalid_awakeable" });
  }

  emitAwakeableCompletion(id: string, completion: EntryCompletion): void {
    this.h.sink.emit(awakeableCompletionRecord(this.h.invocationsTopic, { id, value: completion.value, failure: completion.failure }));
  }

  promiseValue(name: string): EntryCompletion | null {
    const { record } = this.inv;
    const stored = record.key === null ? undefined : this.h.state.objectState(record.target, record.key)?.get(promiseStateName(name));
    return stored === undefined ? null : decodeStoredOutcome(stored, `durable promise "${name}"`);
  }

  resolvePromise(name: string, completion: EntryCompletion): void {
    const { record } = this.inv;
    if (record.key !== null) this.hub.resolvePromise(record.target, record.key, name, completion);
  }

  watchPromise(name: string, entry: number): void {
    this.hub.watchPromise(this.inv.record, name, entry);
  }
}

export function promiseStateName(name: string): string {
  return `${RESERVED_STATE_PREFIX}promise.${name}`;
}

function wakeId(invocationId: string, entry: number): string {
  return `${WAKE}${entry}:${invocationId}`;
}

function parseWakeId(queued: string): { invocationId: string; entry: number } {
  const colon = queued.indexOf(":");
  return { entry: Number(queued.slice(WAKE.length, colon)), invocationId: queued.slice(colon + 1) };
}
