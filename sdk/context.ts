import type { RetryPolicy } from "./retry.js";

/** Values that survive the journal: they are stored as JSON. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** Shape of an object's state: state name → value type. */
export type StateShape = Record<string, unknown>;

/** State of an object declared without a state type: any name, any value. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type UntypedState = Record<string, any>;

type StateName<S> = keyof S & string;
/** `string` when the state is untyped, `never` when a state type was declared. */
type FreeName<S> = string extends keyof S ? string : never;

/** Deterministic randomness: seeded by the invocation id, so a replay draws the same values. */
export interface DeterministicRandom {
  /** Uniform in [0, 1). */
  random(): number;
  /** An RFC 4122 version-4 shaped UUID. */
  uuidv4(): string;
}

/** Journaled wall clock: a replay sees the time recorded by the first execution. */
export interface DurableDate {
  now(): Promise<number>;
}

/** Where the invocation came from. */
export interface InvocationRequest {
  /** Invocation id, deterministic for its source (record offset or idempotency key). */
  id: string;
  /** Idempotency key the caller supplied, if any. */
  idempotencyKey?: string;
  /** User headers of the invocation record (kvo-* headers removed). */
  headers: Readonly<Record<string, string>>;
  /** Attempt number, 1 for the first execution. */
  attempt: number;
}

/** Context shared by every handler kind. */
export interface BaseContext {
  readonly request: InvocationRequest;
  readonly rand: DeterministicRandom;
  readonly date: DurableDate;
  /**
   * Runs `action` at least once and journals its result. The promise resolves only after the
   * journal entry is committed to the changelog, so every later replay sees this same result
   * and does not run the action again. A TerminalError from the action is recorded and
   * rethrown; other errors are retried by `retry` (then recorded as a terminal failure).
   *
   * `action` gets the attempt's AbortSignal: it aborts when the attempt times out
   * (`attemptTimeoutMs`), the invocation is cancelled or the partition is closed; its
   * `reason` is the KvoError saying which. Pass it on (`(signal) => fetch(url, { signal })`)
   * so abandoned work stops. The result of an action that finishes after its attempt was
   * abandoned is dropped, never journaled.
   */
  run<T>(name: string, action: (signal: AbortSignal) => T | Promise<T>, retry?: RetryPolicy): Promise<T>;
}

/** Read-only view of an object's state (shared handlers). */
export interface SharedObjectContext<S extends StateShape = UntypedState> extends BaseContext {
  /** The object's key. */
  readonly key: string;
  get<K extends StateName<S>>(name: K): Promise<S[K] | null>;
  get<T>(name: FreeName<S>): Promise<T | null>;
  stateKeys(): Promise<string[]>;
}

/** Exclusive handlers: one at a time per key, in arrival order; may change state. */
export interface ObjectContext<S extends StateShape = UntypedState> extends SharedObjectContext<S> {
  set<K extends StateName<S>>(name: K, value: S[K]): void;
  set<T>(name: FreeName<S>, value: T): void;
  clear(name: StateName<S>): void;
  clearAll(): void;
}

/** Keyless service handlers: no state. */
export type ServiceContext = BaseContext;
