import type { DurablePromise, DurablePromiseHandle } from "../../sdk/durable.js";
import { CallCycleError, KvoError, TerminalError, TimeoutError, toKvoError } from "../../sdk/errors.js";
import type { JournalEntryRecord, JournalKind } from "../codec/records.js";
import { decodeJson, encodeJson } from "../codec/json_payload.js";
import { DurablePromiseImpl } from "./durable_promise.js";
import type { EntryCompletion, Journal } from "./journal.js";
import type { HandlerMode } from "./context_impl.js";

/** Longest sleep, send delay or timeout: a year (a typo in ms should not park work for ages). */
export const MAX_DURATION_MS = 365 * 24 * 3600 * 1000;

/**
 * What calls, sends, timers and awakeables need from the partition that runs the invocation.
 * Every `emit…`/`wakeAt`/`resolvePromise` is called in the turn that hands the entry to the
 * commit pipeline, so its writes join the entry's batch (Journal.complete's effect).
 */
export interface InteractionPort {
  /** Mode of a registered handler; null when the app does not register it. */
  handlerMode(target: string, handler: string): HandlerMode | null;
  /** Object keys ("Target/key") the call chain holds exclusively, outermost first, this invocation's own included. */
  heldChain(): readonly string[];
  /** Deterministic id of the invocation a call at journal `entry` starts. */
  calleeId(entry: number): string;
  /** Writes a call's request record. */
  emitCall(call: { recordKey: string; handler: string; input: Buffer | null; entry: number; calleeId: string }): void;
  /** Writes a one-way call now (fireAt null) or keeps it as a durable timer until fireAt. */
  emitSend(send: { recordKey: string; handler: string; input: Buffer | null; entry: number; fireAt: number | null }): void;
  /** Wakes the sleep at journal `entry` at `at` (ms since epoch). */
  wakeAt(entry: number, at: number): void;
  now(): number;
  /** Routable id of the awakeable at journal `entry`. */
  awakeableId(entry: number): string;
  /** Throws a terminal `invalid_awakeable` error when `id` is not an awakeable id. */
  checkAwakeableId(id: string): void;
  /** Writes the record that completes awakeable `id` (wherever its invocation runs). */
  emitAwakeableCompletion(id: string, completion: EntryCompletion): void;
  /** Workflows: the durable promise's outcome if it has one. */
  promiseValue(name: string): EntryCompletion | null;
  /** Workflows: completes the promise (the first completion wins) and the entries waiting for it. */
  resolvePromise(name: string, completion: EntryCompletion): void;
  /** Workflows: the promise entry at `entry` waits for promise `name`. */
  watchPromise(name: string, entry: number): void;
}

/** What the interactions need from the context they belong to (ContextImpl). */
export interface StepHost {
  readonly journal: Journal;
  readonly port: InteractionPort | undefined;
  /** The recorded entry at the next index (advancing the cursor), or null when the action is new; throws on divergence. */
  replay(kind: JournalKind, name: string): JournalEntryRecord | null;
  /** The index the last replay() looked at. */
  lastIndex(): number;
  requireLive(): void;
  /** Never settles once the attempt is over. */
  liveGate(): Promise<void>;
  where(): string;
  /** The handler waits for a pending entry (suspension bookkeeping); call waitEnded after. */
  waitStarted(): void;
  waitEnded(): void;
}

const noop = (): void => undefined;

/**
 * Calls, sends, timers, awakeables, combinators and workflow promises of one attempt. Each is
 * a journal entry: recorded pending (done: false) when it starts, with its effect in the same
 * batch, and filled when its outcome arrives; a replay finds the entry and waits for (or
 * returns) the recorded outcome instead of acting again.
 */
export class Interactions {
  constructor(private readonly host: StepHost) {}

  private get port(): InteractionPort {
    const port = this.host.port;
    if (!port)
      throw new KvoError(`${this.host.where()}: calls, sends, timers and awakeables are not available in this context`, {
        code: "emit_unavailable",
        retryable: false,
      });
    return port;
  }

  // ---- calls and sends ---------------------------------------------------------------------

  call(target: string, key: string | null, handler: string, input: unknown): DurablePromise<unknown> {
    this.host.requireLive();
    const port = this.port;
    const mode = this.checkTarget(target, handler, key, "call");
    if (mode === "exclusive" && key !== null) this.refuseCycle(`${target}/${key}`, handler);
    const bytes = encodeJson(input, `input of the call to ${target}.${handler}`);
    const name = `${target}.${handler}`;
    let index: number;
    if (this.host.replay("call", name)) {
      index = this.host.lastIndex();
    } else {
      index = this.host.journal.reserve();
      const calleeId = port.calleeId(index);
      const recordKey = `${target}/${key ?? calleeId}`;
      const entry: JournalEntryRecord = { kind: "call", name, value: null, failure: null, done: false, ref: `${calleeId} ${recordKey}` };
      this.host.journal
        .complete(index, entry, () => port.emitCall({ recordKey, handler, input: bytes, entry: index, calleeId }))
        .catch(noop);
    }
    return this.durable(this.awaitEntry(index).then((e) => unwrapValue(e, `output of ${name}`)));
  }

  send(target: string, key: string | null, handler: string, input: unknown, delay: number | undefined): void {
    this.host.requireLive();
    const port = this.port;
    this.checkTarget(target, handler, key, "send");
    if (delay !== undefined) checkDuration(delay, `ctx.send(${target}).${handler} delay`, this.host.where());
    const bytes = encodeJson(input, `input of the send to ${target}.${handler}`);
    const name = `${target}.${handler}`;
    if (this.host.replay("send", name)) return;
    const index = this.host.journal.reserve();
    const fireAt = delay !== undefined && delay > 0 ? port.now() + delay : null;
    // The record key of a service send only spreads sends over partitions: a deterministic one.
    const recordKey = `${target}/${key ?? port.calleeId(index)}`;
    const entry: JournalEntryRecord = { kind: "send", name, value: null, failure: null, at: fireAt };
    this.host.journal.complete(index, entry, () => port.emitSend({ recordKey, handler, input: bytes, entry: index, fireAt })).catch(noop);
  }

  private checkTarget(target: string, handler: string, key: string | null, what: string): HandlerMode {
    const mode = this.port.handlerMode(target, handler);
    if (mode === null) {
      throw new TerminalError(
        `${this.host.where()}: ctx.${what} to ${target}.${handler}: this app registers no such handler; add the definition to the runtime's objects/services`,
        { code: "unknown_call_target" },
      );
    }
    if ((mode === "service") !== (key === null)) {
      throw new TerminalError(
        `${this.host.where()}: ${target} is ${mode === "service" ? "a service: call it with ctx.service(def)" : "an object: call it with ctx.object(def, key)"}`,
        { code: "unknown_call_target" },
      );
    }
    return mode;
  }

  /** An exclusive call to a key the chain holds would wait for itself forever. */
  private refuseCycle(objectKey: string, handler: string): void {
    const chain = this.port.heldChain();
    if (!chain.includes(objectKey)) return;
    const path = [...chain, objectKey].join(" → ");
    throw new CallCycleError(
      [...chain, objectKey],
      `${this.host.where()}: call to ${objectKey}.${handler} would deadlock: the call chain ${path} already holds ${objectKey} ` +
        `(an exclusive handler runs one at a time per key). Use ctx.send for the way back, or make the handler shared.`,
    );
  }

  // ---- timers and awakeables ---------------------------------------------------------------

  sleep(ms: number): DurablePromiseImpl<void> {
    this.host.requireLive();
    const port = this.port;
    checkDuration(ms, "ctx.sleep", this.host.where());
    let index: number;
    if (this.host.replay("sleep", "")) {
      index = this.host.lastIndex();
    } else {
      index = this.host.journal.reserve();
      const at = port.now() + ms;
      const entry: JournalEntryRecord = { kind: "sleep", name: "", value: null, failure: null, done: false, at };
      this.host.journal.complete(index, entry, () => port.wakeAt(index, at)).catch(noop);
    }
    return this.durable(this.awaitEntry(index).then((e) => void unwrapValue(e, "ctx.sleep")));
  }

  awakeable<T>(): { id: string; promise: DurablePromise<T> } {
    this.host.requireLive();
    const port = this.port;
    let index: number;
    if (this.host.replay("awakeable", "")) {
      index = this.host.lastIndex();
    } else {
      index = this.host.journal.reserve();
      const id = port.awakeableId(index);
      this.host.journal.complete(index, { kind: "awakeable", name: "", value: null, failure: null, done: false, ref: id }).catch(noop);
    }
    const id = port.awakeableId(index);
    return { id, promise: this.durable(this.awaitEntry(index).then((e) => unwrapValue(e, `awakeable ${id}`) as T)) };
  }

  completeAwakeable(id: string, completion: EntryCompletion): void {
    this.host.requireLive();
    const port = this.port;
    port.checkAwakeableId(id);
    if (this.host.replay("resolveAwakeable", "")) return;
    const index = this.host.journal.reserve();
    const entry: JournalEntryRecord = { kind: "resolveAwakeable", name: "", value: null, failure: null, ref: id };
    this.host.journal.complete(index, entry, () => port.emitAwakeableCompletion(id, completion)).catch(noop);
  }

  // ---- combinators -------------------------------------------------------------------------

  all(promises: readonly PromiseLike<unknown>[]): DurablePromiseImpl<unknown[]> {
    this.host.requireLive();
    return this.durable(Promise.all(promises));
  }

  race(promises: readonly PromiseLike<unknown>[]): DurablePromiseImpl<unknown> {
    return this.durable(this.choose("race", promises).then(settle));
  }

  any(promises: readonly PromiseLike<unknown>[]): DurablePromiseImpl<unknown> {
    return this.durable(this.choose("any", promises).then(settle));
  }

  /** `promise` or a TimeoutError after `ms`, whichever comes first (journaled like race). */
  withTimeout<T>(promise: PromiseLike<T>, ms: number): DurablePromiseImpl<T> {
    const timer = this.sleep(ms);
    return this.durable(
      this.choose("race", [promise, timer]).then((chosen) => {
        if (chosen.index === 1) throw new TimeoutError(`${this.host.where()}: timed out after ${ms} ms`);
        return settle(chosen) as T;
      }),
    );
  }

  /**
   * The journaled choice of race/any: which member decided. The first execution records the
   * index of the member that settled first (any: that succeeded first, or the last to fail);
   * a replay waits for that member only, whatever the others do now.
   */
  private choose(kind: "race" | "any", promises: readonly PromiseLike<unknown>[]): Promise<Chosen> {
    this.host.requireLive();
    if (promises.length === 0) throw new TerminalError(`${this.host.where()}: ctx.${kind}([]) needs at least one promise`);
    const recorded = this.host.replay(kind, "");
    if (recorded) {
      const winner = decodeJson(recorded.value, `ctx.${kind} winner`) as number;
      const member = promises[winner];
      if (member === undefined)
        throw new TerminalError(
          `${this.host.where()}: ctx.${kind} was replayed with ${promises.length} promises, the journal chose #${winner}`,
          {
            code: "non_deterministic",
          },
        );
      return outcomeOf(member, winner).then(async (chosen) => (await this.host.liveGate(), chosen));
    }
    const index = this.host.journal.reserve();
    return new Promise<Chosen>((resolve, reject) => {
      let decided = false;
      let failures = 0;
      const decide = (chosen: Chosen): void => {
        if (decided) return;
        decided = true;
        let durable: Promise<void>;
        try {
          durable = this.host.journal.complete(index, { kind, name: "", value: encodeJson(chosen.index, "winner"), failure: null });
        } catch (error) {
          reject(toKvoError(error));
          return;
        }
        void durable.then(async () => {
          await this.host.liveGate();
          resolve(chosen);
        }, reject);
      };
      promises.forEach((member, i) => {
        void outcomeOf(member, i).then((chosen) => {
          if (kind === "race" || chosen.ok) decide(chosen);
          else if (++failures === promises.length) decide(chosen);
        });
      });
    });
  }

  // ---- workflow promises -------------------------------------------------------------------

  promise<T>(name: string, peek: () => Promise<EntryCompletion | null>): DurablePromiseHandle<T> {
    const what = `durable promise "${name}"`;
    return {
      get: () => {
        this.host.requireLive();
        const port = this.port;
        let index: number;
        if (this.host.replay("promise", name)) {
          index = this.host.lastIndex();
        } else {
          index = this.host.journal.reserve();
          const known = port.promiseValue(name);
          const entry: JournalEntryRecord = {
            kind: "promise",
            name,
            value: known?.value ?? null,
            failure: known?.failure ?? null,
            done: known !== null,
          };
          this.host.journal.complete(index, entry, known ? undefined : () => port.watchPromise(name, index)).catch(noop);
        }
        return this.durable(this.awaitEntry(index).then((e) => unwrapValue(e, what) as T));
      },
      peek: async () => {
        const known = await peek();
        return known === null ? null : (unwrapValue(known, what) as T);
      },
      resolve: (value?: T) => this.completePromise(name, { value: encodeJson(value, `value of ${what}`), failure: null }),
      reject: (message: string, code?: string) =>
        this.completePromise(name, { value: null, failure: { code: code ?? "promise_rejected", message } }),
    };
  }

  private completePromise(name: string, completion: EntryCompletion): void {
    this.host.requireLive();
    const port = this.port;
    if (this.host.replay("resolvePromise", name)) return;
    const index = this.host.journal.reserve();
    const entry: JournalEntryRecord = { kind: "resolvePromise", name, value: completion.value, failure: completion.failure };
    this.host.journal.complete(index, entry, () => port.resolvePromise(name, completion)).catch(noop);
  }

  // ---- plumbing ----------------------------------------------------------------------------

  /** Waits for a recorded entry to be done; counts as waiting for suspension. */
  private async awaitEntry(index: number): Promise<JournalEntryRecord> {
    this.host.waitStarted();
    let entry: JournalEntryRecord;
    try {
      entry = await this.host.journal.waitDone(index);
    } finally {
      this.host.waitEnded();
    }
    await this.host.liveGate();
    return entry;
  }

  durable<T>(inner: Promise<T>): DurablePromiseImpl<T> {
    return new DurablePromiseImpl(inner, (promise, ms) => this.withTimeout(promise, ms));
  }
}

interface Chosen {
  index: number;
  ok: boolean;
  value: unknown;
}

function outcomeOf(member: PromiseLike<unknown>, index: number): Promise<Chosen> {
  return Promise.resolve(member).then(
    (value) => ({ index, ok: true, value }),
    (error: unknown) => ({ index, ok: false, value: error }),
  );
}

function settle(chosen: Chosen): unknown {
  if (!chosen.ok) throw chosen.value;
  return chosen.value;
}

/** A done entry's outcome: its value, or its failure as a TerminalError with the recorded code. */
function unwrapValue(entry: Pick<JournalEntryRecord, "value" | "failure">, what: string): unknown {
  if (entry.failure) throw new TerminalError(entry.failure.message, { code: entry.failure.code });
  return decodeJson(entry.value, what);
}

function checkDuration(ms: number, what: string, where: string): void {
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0 || ms > MAX_DURATION_MS) {
    throw new TerminalError(`${where}: ${what}(${String(ms)}): pass a number of milliseconds from 0 to ${MAX_DURATION_MS} (365 days)`, {
      code: "invalid_duration",
    });
  }
}
