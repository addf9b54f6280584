import type {
  DeterministicRandom,
  DurableDate,
  EmitOptions,
  EmitRecord,
  InvocationRequest,
  ObjectContext,
  WorkflowPromises,
} from "../../sdk/context.js";
import type { Awakeable, DurablePromise, DurablePromiseHandle, SendClientOf, CallClientOf } from "../../sdk/durable.js";
import type { Definition } from "../../sdk/definitions.js";
import { RESERVED_STATE_PREFIX } from "../../sdk/definitions.js";
import { KvoError, NonDeterminismError, SharedHandlerWriteError, TerminalError, toKvoError } from "../../sdk/errors.js";
import { backoffDelay, DEFAULT_RUN_RETRY, resolveRetryPolicy, type RetryPolicy } from "../../sdk/retry.js";
import type { JournalEntryRecord, JournalKind } from "../codec/records.js";
import { encodeEmit, MAX_EMITS_PER_INVOCATION, type EmitPolicy } from "../egress/emit.js";
import type { OutboundRecord } from "../log/log.js";
import { decodeJson, encodeJson } from "../codec/json_payload.js";
import { recordBytes } from "../commit/batch.js";
import type { Journal } from "./journal.js";
import { seededRandom } from "./rand.js";
import { Interactions, type InteractionPort, type StepHost } from "./interactions.js";
import { decodeStoredOutcome } from "./stored_outcome.js";

export type HandlerMode = "exclusive" | "shared" | "service";

/** What a context needs from the partition that hosts the invocation. */
export interface StateSource {
  /** Current value of a state name of this object, or undefined. */
  read(name: string): Buffer | undefined;
  names(): string[];
}

/** Writes an exclusive invocation made; applied to the object when the invocation succeeds. */
export class StateOverlay {
  /** name → new value, or null when cleared. */
  readonly writes = new Map<string, Buffer | null>();
  clearedAll = false;
  /**
   * Records of ctx.emit, in call order; written with the outcome when the invocation succeeds.
   * Not journaled: like state writes, a replay of the handler emits them again.
   */
  readonly emits: OutboundRecord[] = [];
  /** Bytes of `emits` (key, value, headers). */
  emitBytes = 0;
}

export interface ContextOptions {
  target: string;
  key: string | null;
  mode: HandlerMode;
  request: InvocationRequest;
  journal: Journal;
  state: StateSource;
  overlay: StateOverlay;
  /** Sleeps between ctx.run retries; injectable so tests stay deterministic. */
  sleep: (ms: number) => Promise<void>;
  now: () => number;
  /**
   * The attempt's abort switch. Its abort (timeout, cancellation, partition closed) abandons
   * the context at once: nothing the attempt does afterwards reaches the journal. Its signal
   * is handed to ctx.run actions.
   */
  abort?: AttemptAbort;
  /**
   * Throws when a state value could not be written (too large for one record). Checked at
   * ctx.set: the value is written only with the outcome, too late to fail the call. Gets the
   * object's target and key too, so one function can serve every attempt.
   */
  checkStateValue?: (name: string, bytes: Buffer, target: string, key: string | null) => void;
  /** Where ctx.emit may write and how much (reserved topics, size limits); emit refuses without it. */
  emitPolicy?: EmitPolicy;
  /** Calls, sends, timers, awakeables (the partition's side); unavailable without it. */
  interactions?: InteractionPort;
  /**
   * Told when the handler starts or stops being blocked only on pending entries (waiting for
   * a call, timer, awakeable or promise, with no ctx.run action running): the partition may
   * then suspend the attempt and resume it by replay when an outcome arrives.
   */
  onBlocked?: (blocked: boolean) => void;
  /** A workflow's context: ctx.promise is available. */
  workflow?: boolean;
  /**
   * Applies a state write at once, besides keeping it in the overlay (a workflow's run: its
   * shared handlers see its progress). `name` null: clearAll. Called again on replay with the
   * same values. Without it, writes apply only when the invocation succeeds.
   */
  onStateWrite?: (name: string | null, value: Buffer | null) => void;
}

/** The abort switch of an attempt, as a context sees it (see partition/attempt_control.ts). */
export interface AttemptAbort {
  readonly signal: AbortSignal;
  readonly aborted: boolean;
  /** Runs the listener once on abort (at once when already aborted). */
  onAbort(listener: () => void): void;
}

const NEVER_ABORTED = new AbortController().signal;

/**
 * The handler context of one attempt. Actions are matched against the journal by index:
 * a recorded entry is returned as it was (same kind and name required), a new one is
 * recorded. After the attempt ends or diverges, the context is dead: its promises never
 * settle, so user code cannot act on a superseded attempt.
 */
export class ContextImpl implements ObjectContext, WorkflowPromises, StepHost {
  private cursor = 0;
  private divergence: NonDeterminismError | null = null;
  private ended = false;
  private random: DeterministicRandom | null = null;
  // Made on first use: most attempts (a state update) never call, sleep or read the date, and
  // a backlog makes thousands of contexts a second.
  private durableDate: DurableDate | null = null;
  private interactionsOf: Interactions | null = null;
  /** Awaits of pending entries in progress, and ctx.run actions running (suspension bookkeeping). */
  private waits = 0;
  private runningSteps = 0;
  private blocked = false;

  constructor(private readonly o: ContextOptions) {
    o.abort?.onAbort(() => this.abandon());
  }

  get date(): DurableDate {
    // an arrow, as before: `const { now } = ctx.date` keeps working
    return (this.durableDate ??= { now: () => this.durableNow() });
  }

  private get interactions(): Interactions {
    return (this.interactionsOf ??= new Interactions(this));
  }

  // ---- StepHost (for Interactions) ---------------------------------------------------------

  get journal(): Journal {
    return this.o.journal;
  }

  get port(): InteractionPort | undefined {
    return this.o.interactions;
  }

  lastIndex(): number {
    return this.cursor - 1;
  }

  waitStarted(): void {
    this.waits++;
    this.updateBlocked();
  }

  waitEnded(): void {
    this.waits--;
    this.updateBlocked();
  }

  private updateBlocked(): void {
    const blocked = !this.ended && this.waits > 0 && this.runningSteps === 0;
    if (blocked === this.blocked) return;
    this.blocked = blocked;
    this.o.onBlocked?.(blocked);
  }

  // ---- calls, sends, timers, awakeables, combinators ---------------------------------------

  object<D extends Definition>(def: D, key: string): CallClientOf<never> {
    return this.callProxy(def, key);
  }

  service<D extends Definition>(def: D): CallClientOf<never> {
    return this.callProxy(def, null);
  }

  send<D extends Definition>(def: D, key?: string): SendClientOf<never> {
    const target = def.name;
    return new Proxy(
      {},
      {
        get: (_, handler) =>
          typeof handler !== "string"
            ? undefined
            : (input?: unknown, options?: { delay?: number }) =>
                this.interactions.send(target, key ?? null, handler, input, options?.delay),
      },
    );
  }

  private callProxy(def: Definition, key: string | null): Record<string, (input?: unknown) => DurablePromise<unknown>> {
    const target = def.name;
    return new Proxy(
      {},
      {
        get: (_, handler) =>
          typeof handler !== "string" || handler === "then"
            ? undefined
            : (input?: unknown) => this.interactions.call(target, key, handler, input),
      },
    );
  }

  sleep(ms: number): DurablePromise<void> {
    return this.interactions.sleep(ms);
  }

  awakeable<T = unknown>(): Awakeable<T> {
    return this.interactions.awakeable<T>();
  }

  resolveAwakeable(id: string, value?: unknown): void {
    this.interactions.completeAwakeable(id, { value: encodeJson(value, `value for awakeable ${id}`), failure: null });
  }

  rejectAwakeable(id: string, message: string, code?: string): void {
    this.interactions.completeAwakeable(id, { value: null, failure: { code: code ?? "awakeable_rejected", message } });
  }

  all<const T extends readonly DurablePromise<unknown>[]>(promises: T): DurablePromise<{ -readonly [P in keyof T]: Awaited<T[P]> }> {
    return this.interactions.all(promises) as unknown as DurablePromise<{ -readonly [P in keyof T]: Awaited<T[P]> }>;
  }

  race<const T extends readonly DurablePromise<unknown>[]>(promises: T): DurablePromise<Awaited<T[number]>> {
    return this.interactions.race(promises) as DurablePromise<Awaited<T[number]>>;
  }

  any<const T extends readonly DurablePromise<unknown>[]>(promises: T): DurablePromise<Awaited<T[number]>> {
    return this.interactions.any(promises) as DurablePromise<Awaited<T[number]>>;
  }

  promise<T = unknown>(name: string): DurablePromiseHandle<T> {
    this.requireLive();
    if (!this.o.workflow)
      throw new TerminalError(`${this.where()}: ctx.promise("${name}") is available in workflows only (workflow({ name, run, handlers }))`);
    return this.interactions.promise<T>(name, async () => {
      const bytes = await this.readState(RESERVED_STATE_PREFIX + "promise." + name);
      return bytes === null ? null : decodeStoredOutcome(bytes, `durable promise "${name}"`);
    });
  }

  /** Seeded from the invocation id (a SHA-256): made on first use, most handlers never use it. */
  get rand(): DeterministicRandom {
    return (this.random ??= seededRandom(this.o.request.id));
  }

  /** What ctx.run actions get: the attempt's signal (made on first use), or one never aborted. */
  private get signal(): AbortSignal {
    return this.o.abort?.signal ?? NEVER_ABORTED;
  }

  get key(): string {
    if (this.o.key === null) throw new KvoError("ctx.key is not available in service handlers", { code: "no_key", retryable: false });
    return this.o.key;
  }

  get request(): InvocationRequest {
    return this.o.request;
  }

  /** Divergence found during this attempt, if any; it overrides the handler's own result. */
  get nonDeterminism(): NonDeterminismError | null {
    return this.divergence;
  }

  /** Marks the attempt over and checks that the replay consumed the whole journal. */
  end(): void {
    if (!this.ended && !this.divergence && this.cursor < this.o.journal.recorded.length) {
      const next = this.o.journal.recorded[this.cursor]!;
      this.divergence = new NonDeterminismError(
        `${this.where()}: the handler finished at journal index ${this.cursor}, but the journal recorded ` +
          `${this.o.journal.recorded.length} entries (next: ${next.kind} "${next.name}"). ` +
          `The handler code changed while this invocation was in flight, or it branches on something not journaled.`,
      );
    }
    this.ended = true;
  }

  /**
   * Marks a superseded attempt over (timed out, cancelled, partition closed) without the
   * end-of-journal check: it stopped early on purpose. From here on its pending steps never
   * settle and its finished actions are not journaled.
   */
  abandon(): void {
    this.ended = true;
  }

  // ---- state -------------------------------------------------------------------------------

  async get<T>(name: string): Promise<T | null> {
    this.requireLive();
    this.requireState("get");
    refuseReservedName(name, "get", this);
    const bytes = await this.readState(name);
    if (bytes === null) return null;
    return decodeJson(bytes, `state "${name}"`) as T;
  }

  /** A state value as this handler sees it (journaled in shared handlers, overlaid in exclusive ones). */
  private async readState(name: string): Promise<Buffer | null> {
    const overlay = this.o.overlay;
    if (this.o.mode === "shared") return this.journaledRead("get", name, () => this.o.state.read(name) ?? null);
    // Reserved names ($kvo.*) are written by the runtime, never through the overlay.
    if (name.startsWith(RESERVED_STATE_PREFIX)) return this.o.state.read(name) ?? null;
    if (overlay.writes.has(name)) return overlay.writes.get(name) ?? null;
    if (overlay.clearedAll) return null;
    return this.o.state.read(name) ?? null;
  }

  async stateKeys(): Promise<string[]> {
    this.requireLive();
    this.requireState("stateKeys");
    const visible = (): string[] => this.o.state.names().filter((n) => !n.startsWith(RESERVED_STATE_PREFIX));
    if (this.o.mode === "shared") {
      const names = this.journaledRead("keys", "", () => encodeJson(visible().sort(), "state names"));
      return decodeJson(names, "state names") as string[];
    }
    const overlay = this.o.overlay;
    const names = new Set(overlay.clearedAll ? [] : visible());
    for (const [name, value] of overlay.writes) {
      if (value === null) names.delete(name);
      else names.add(name);
    }
    return [...names].sort();
  }

  set(name: string, value: unknown): void {
    this.requireWritable("set");
    refuseReservedName(name, "set", this);
    if (value === undefined)
      throw new TerminalError(`ctx.set("${name}", undefined): use ctx.clear("${name}") to remove a value`, { code: "invalid_state_value" });
    const bytes = encodeJson(value, `state "${name}"`);
    if (bytes) this.o.checkStateValue?.(name, bytes, this.o.target, this.o.key);
    this.record("set", name, bytes);
    this.o.overlay.writes.set(name, bytes);
    this.o.onStateWrite?.(name, bytes);
  }

  clear(name: string): void {
    this.requireWritable("clear");
    refuseReservedName(name, "clear", this);
    this.record("clear", name, null);
    this.o.overlay.writes.set(name, null);
    this.o.onStateWrite?.(name, null);
  }

  clearAll(): void {
    this.requireWritable("clearAll");
    this.record("clearAll", "", null);
    this.o.overlay.writes.clear();
    this.o.overlay.clearedAll = true;
    this.o.onStateWrite?.(null, null);
  }

  // ---- egress ------------------------------------------------------------------------------

  emit(topic: string, record: EmitRecord, options?: EmitOptions): void {
    this.requireLive();
    if (this.o.mode === "shared") throw new SharedHandlerWriteError("emit", this.where());
    const policy = this.o.emitPolicy;
    if (!policy)
      throw new KvoError(`${this.where()}: ctx.emit() is not available in this runtime`, { code: "emit_unavailable", retryable: false });
    const overlay = this.o.overlay;
    if (overlay.emits.length >= MAX_EMITS_PER_INVOCATION) {
      throw new TerminalError(
        `${this.where()}: ctx.emit("${topic}") is emit number ${overlay.emits.length + 1}, above the limit of ${MAX_EMITS_PER_INVOCATION} per invocation ` +
          `(they all join one transaction). Split the work over several invocations.`,
        { code: "too_many_emits" },
      );
    }
    const out = encodeEmit(topic, record, options?.format, policy, this.where());
    const bytes = recordBytes(out);
    if (overlay.emitBytes + bytes > policy.maxTotalBytes) {
      throw new TerminalError(
        `${this.where()}: ctx.emit("${topic}") would bring this invocation's records to ${overlay.emitBytes + bytes} bytes, above the limit of ` +
          `${policy.maxTotalBytes} bytes per invocation (they all join one transaction). Split the work over several invocations.`,
        { code: "too_many_emits" },
      );
    }
    overlay.emits.push(out);
    overlay.emitBytes += bytes;
  }

  // ---- durable steps -----------------------------------------------------------------------

  run<T>(name: string, action: (signal: AbortSignal) => T | Promise<T>, retry?: RetryPolicy): DurablePromise<T> {
    this.requireLive();
    return this.interactions.durable<T>(this.runStep(name, action, retry));
  }

  private async runStep<T>(name: string, action: (signal: AbortSignal) => T | Promise<T>, retry?: RetryPolicy): Promise<T> {
    const replayed = this.replay("run", name);
    if (replayed) {
      // recorded by an earlier attempt of this process, perhaps not committed yet
      await this.o.journal.whenDurable(this.cursor - 1);
      await this.liveGate();
      return this.unwrapRun<T>(replayed);
    }
    const policy = resolveRetryPolicy(retry, DEFAULT_RUN_RETRY, `${this.where()}: ctx.run("${name}") retry policy`);
    const index = this.o.journal.reserve();
    let entry: JournalEntryRecord;
    for (let attempt = 1; ; attempt++) {
      this.runningSteps++;
      this.updateBlocked();
      try {
        const value = await action(this.signal);
        entry = { kind: "run", name, value: encodeJson(value, `result of ctx.run("${name}")`), failure: null };
        break;
      } catch (thrown) {
        if (this.ended) return this.abandoned<T>(); // e.g. the action saw the abort signal
        const err = toKvoError(thrown);
        if (!err.retryable || attempt >= policy.maxAttempts) {
          const message = err.retryable ? `ctx.run("${name}") failed after ${attempt} attempts: ${err.message}` : err.message;
          entry = { kind: "run", name, value: null, failure: { code: err.code, message } };
          break;
        }
        await this.o.sleep(backoffDelay(policy, attempt));
        if (this.ended) return this.abandoned<T>();
        this.requireLive();
      } finally {
        this.runningSteps--;
        this.updateBlocked();
      }
    }
    // The attempt may have been abandoned while the action ran: its result must not reach the
    // journal (its slot was dropped and may be reused by the next attempt).
    if (this.ended) return this.abandoned<T>();
    await this.o.journal.complete(index, entry);
    await this.liveGate();
    return this.unwrapRun<T>(entry);
  }

  private async durableNow(): Promise<number> {
    this.requireLive();
    const replayed = this.replay("now", "");
    if (replayed) {
      await this.o.journal.whenDurable(this.cursor - 1);
      await this.liveGate();
      return decodeJson(replayed.value, "ctx.date.now()") as number;
    }
    const index = this.o.journal.reserve();
    const value = this.o.now();
    await this.o.journal.complete(index, { kind: "now", name: "", value: encodeJson(value, "ctx.date.now()"), failure: null });
    await this.liveGate();
    return value;
  }

  // ---- journal matching --------------------------------------------------------------------

  /** Returns the recorded entry for the next index, or null when the action is new. */
  replay(kind: JournalKind, name: string, value?: Buffer | null): JournalEntryRecord | null {
    const index = this.cursor++;
    const recorded = this.o.journal.recorded;
    if (index >= recorded.length) return null;
    const entry = recorded[index]!;
    const valueDiffers = value !== undefined && !sameBytes(entry.value, value);
    if (entry.kind !== kind || entry.name !== name || valueDiffers) {
      const what = valueDiffers && entry.kind === kind && entry.name === name ? " with a different value" : "";
      this.divergence = new NonDeterminismError(
        `${this.where()}: replay diverged at journal index ${index}: the journal recorded ${entry.kind} "${entry.name}", ` +
          `the handler now did ${kind} "${name}"${what}. Handlers must take the same actions in the same order on replay: ` +
          `do not branch on Date.now()/Math.random() outside ctx.run, and do not change in-flight handler code.`,
      );
      throw this.divergence;
    }
    return entry;
  }

  /**
   * A read of a shared handler. Exclusive invocations of the key run alongside it and may
   * change the state between its attempts (a retry, a restore on another process), so unlike
   * an exclusive handler's reads, a shared handler's are journaled: a replay gets what the
   * first execution read and takes the same branches (docs/design.md, "Journal and replay").
   */
  private journaledRead(kind: "get" | "keys", name: string, read: () => Buffer | null): Buffer | null {
    if (this.inUnjournaledReadPrefix()) return read();
    const replayed = this.replay(kind, name);
    if (replayed) return replayed.value;
    const value = read();
    this.o.journal.completeRidingAlong(this.o.journal.reserve(), { kind, name, value, failure: null });
    return value;
  }

  /**
   * Whether the replay is in a part of the journal written before shared reads were journaled
   * (by a KVO version without them, for an invocation in flight across the upgrade): a read
   * there meets a recorded step instead of a read, before the journal's first read entry. It
   * reads the live state, as that version did, without consuming an entry. A journal written
   * since holds every read that precedes a written entry, so this happens there only if the
   * handler's code changed, and it only costs that read its replay guarantee.
   */
  private inUnjournaledReadPrefix(): boolean {
    const recorded = this.o.journal.recorded;
    const next = recorded[this.cursor];
    if (next === undefined || isRead(next)) return false;
    const firstRead = recorded.findIndex(isRead);
    return firstRead < 0 || this.cursor < firstRead;
  }

  /**
   * Journals a synchronous state action (the caller then applies it: to the overlay at once,
   * to the object with the outcome). A replay checks it against the recorded entry (throwing
   * on divergence, before anything is applied); a new one rides along with the next step (a
   * handler that only touches state writes no journal).
   */
  private record(kind: JournalKind, name: string, value: Buffer | null): void {
    if (this.replay(kind, name, value)) return;
    this.o.journal.completeRidingAlong(this.o.journal.reserve(), { kind, name, value, failure: null });
  }

  private unwrapRun<T>(entry: JournalEntryRecord): T {
    if (entry.failure) throw new TerminalError(entry.failure.message, { code: entry.failure.code });
    return decodeJson(entry.value, `result of ctx.run("${entry.name}")`) as T;
  }

  // ---- guards ------------------------------------------------------------------------------

  requireLive(): void {
    if (this.divergence) throw this.divergence;
    if (this.ended)
      throw new KvoError(`${this.where()}: the context of a finished attempt was used; await every ctx call inside the handler`, {
        code: "context_ended",
        retryable: false,
      });
  }

  /** What a step of an abandoned attempt returns: a promise that never settles. */
  private abandoned<T>(): Promise<T> {
    return new Promise<T>(() => {});
  }

  /** After a superseded attempt ends, its pending steps stay pending forever. */
  liveGate(): Promise<void> {
    return this.ended ? new Promise<void>(() => {}) : Promise.resolve();
  }

  private requireState(method: string): void {
    if (this.o.mode === "service") {
      throw new KvoError(`ctx.${method}() is not available in service ${this.o.target}: services have no state; use an object`, {
        code: "no_state",
        retryable: false,
      });
    }
  }

  private requireWritable(method: string): void {
    this.requireLive();
    this.requireState(method);
    if (this.o.mode === "shared") throw new SharedHandlerWriteError(method, this.where());
  }

  where(): string {
    const r = this.o.request;
    return `${this.o.target}${this.o.key === null ? "" : `/${this.o.key}`} (invocation ${r.id})`;
  }
}

/** "$kvo.*" state names belong to the runtime (a workflow's run outcome and durable promises). */
function refuseReservedName(name: string, method: string, ctx: ContextImpl): void {
  // `where` only when refusing: this runs on every ctx.get/set/clear
  if (name.startsWith(RESERVED_STATE_PREFIX)) {
    throw new TerminalError(
      `${ctx.where()}: ctx.${method}("${name}"): names starting with "${RESERVED_STATE_PREFIX}" are kept by the runtime; choose another name`,
      {
        code: "reserved_state_name",
      },
    );
  }
}

function isRead(entry: JournalEntryRecord): boolean {
  return entry.kind === "get" || entry.kind === "keys";
}

function sameBytes(a: Buffer | null, b: Buffer | null): boolean {
  if (a === null || b === null) return a === b;
  return a.equals(b);
}
