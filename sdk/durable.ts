import type { HandlerInput, HandlerOutput, ObjectDefinition, ServiceDefinition } from "./definitions.js";

/* eslint-disable @typescript-eslint/no-explicit-any */

/**
 * A promise whose outcome is journaled: a call's result, a timer, an awakeable, a durable
 * step. A replay gets the recorded outcome without doing the work again. It can be combined
 * with ctx.all / ctx.race / ctx.any (the winner is journaled too) and bounded in time.
 */
export interface DurablePromise<T> extends Promise<T> {
  /**
   * Races this promise against a durable timer of `ms` milliseconds: rejects with the terminal
   * `TimeoutError` (code `timeout`) when the timer wins. The winner is journaled, so a replay
   * takes the same branch even when the other side would now win. Losing does not cancel the
   * work behind this promise (a call keeps running; cancel it if needed).
   */
  orTimeout(ms: number): DurablePromise<T>;
}

/** An awakeable: `id` to hand to whoever completes it, `promise` to await. */
export interface Awakeable<T> {
  /**
   * Routable id: resolve it with `client.resolveAwakeable(id, value)`, `ctx.resolveAwakeable`
   * from another handler, or a record any producer writes (docs/record-format.md).
   */
  readonly id: string;
  readonly promise: DurablePromise<T>;
}

export interface SendOptions {
  /**
   * Deliver the call this many ms from now (durable: kept in the changelog, delivered once,
   * never early, also across crashes and restarts). Default 0: at once.
   */
  delay?: number;
}

/** Calls into a definition from a handler: one method per handler, input → DurablePromise<output>. */
export type CallClientOf<D extends ObjectDefinition | ServiceDefinition> = {
  [K in keyof D["handlers"] & string]: HandlerInput<D["handlers"][K]> extends void
    ? (input?: HandlerInput<D["handlers"][K]>) => DurablePromise<HandlerOutput<D["handlers"][K]>>
    : (input: HandlerInput<D["handlers"][K]>) => DurablePromise<HandlerOutput<D["handlers"][K]>>;
};

/** One-way calls from a handler: one method per handler, returns nothing. */
export type SendClientOf<D extends ObjectDefinition | ServiceDefinition> = {
  [K in keyof D["handlers"] & string]: HandlerInput<D["handlers"][K]> extends void
    ? (input?: HandlerInput<D["handlers"][K]>, options?: SendOptions) => void
    : (input: HandlerInput<D["handlers"][K]>, options?: SendOptions) => void;
};

/** Values of a tuple of promises, for ctx.all. */
export type AwaitedAll<T extends readonly unknown[]> = { -readonly [P in keyof T]: Awaited<T[P]> };

/**
 * What every handler kind may do with other handlers and with time. Calls, sends, timers and
 * awakeables are journaled: after a crash the recorded outcome is returned and nothing is
 * done twice.
 */
export interface InteractingContext {
  /**
   * Calls a handler of an object: `await ctx.object(account, "acc-7").deposit(10)`. The request
   * is written in this invocation's transaction (exactly once); the callee's outcome comes back
   * to this partition and completes the call; a callee's TerminalError is rethrown here with
   * its code. An exclusive call to an object key this call chain already holds fails at once
   * with `call_cycle` (it could only deadlock).
   */
  object<D extends ObjectDefinition<any, any, any>>(def: D, key: string): CallClientOf<D>;
  /** Calls a handler of a service: `await ctx.service(notifier).send(msg)`. */
  service<D extends ServiceDefinition<any, any>>(def: D): CallClientOf<D>;
  /**
   * One-way call to an object (or, without a key, a service): written in this invocation's
   * transaction, delivered once; with `{ delay }` delivered after that time.
   */
  send<D extends ObjectDefinition<any, any, any>>(def: D, key: string): SendClientOf<D>;
  send<D extends ServiceDefinition<any, any>>(def: D): SendClientOf<D>;
  /**
   * Durable timer: resolves `ms` from now, also after a crash or restart (the wake-up time is
   * in the journal). An exclusive invocation keeps its key while it sleeps; to wait without
   * holding the key, schedule a delayed send instead.
   */
  sleep(ms: number): DurablePromise<void>;
  /** A promise that something outside this invocation completes by its id. */
  awakeable<T = unknown>(): Awakeable<T>;
  /** Completes another invocation's awakeable (delivered once, with this invocation's transaction). */
  resolveAwakeable(id: string, value?: unknown): void;
  /** Fails another invocation's awakeable with a TerminalError (`code`, default `awakeable_rejected`). */
  rejectAwakeable(id: string, message: string, code?: string): void;
  /** Like Promise.all over durable promises. */
  all<const T extends readonly DurablePromise<unknown>[]>(promises: T): DurablePromise<AwaitedAll<T>>;
  /** Like Promise.race; the winner is journaled, so a replay takes the same branch. */
  race<const T extends readonly DurablePromise<unknown>[]>(promises: T): DurablePromise<Awaited<T[number]>>;
  /** Like Promise.any (first success; all failed: rejects with the last failure); the winner is journaled. */
  any<const T extends readonly DurablePromise<unknown>[]>(promises: T): DurablePromise<Awaited<T[number]>>;
}

/** A workflow's durable promise, by name: the run awaits it, shared handlers resolve it. */
export interface DurablePromiseHandle<T> {
  /** Waits for the value (at once when already resolved). */
  get(): DurablePromise<T>;
  /** The value if resolved, null if not yet; throws the failure if rejected. */
  peek(): Promise<T | null>;
  /** Resolves it once; later resolutions are ignored (the first one wins). */
  resolve(value?: T): void;
  /** Rejects it once with a TerminalError (`code`, default `promise_rejected`). */
  reject(message: string, code?: string): void;
}
