import type { AvroFormat } from "./avro_format.js";
import type { DurablePromise, DurablePromiseHandle, InteractingContext } from "./durable.js";
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

/** The source record of an invocation made by a subscription. */
export interface InvocationSource {
  /** Name of the subscription that made it. */
  subscription: string;
  topic: string;
  partition: number;
  offset: number;
  /** The record's timestamp, ms since epoch. */
  timestamp: number;
  /** The record's key bytes (null for a record without key). */
  key: Buffer | null;
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
  /**
   * For an invocation made by a subscription: the record it came from (its headers are
   * `headers`). Absent for invocations from clients and other producers.
   */
  source?: InvocationSource;
}

/** Context shared by every handler kind. */
export interface BaseContext extends InteractingContext {
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
  run<T>(name: string, action: (signal: AbortSignal) => T | Promise<T>, retry?: RetryPolicy): DurablePromise<T>;
}

/** Read-only view of an object's state (shared handlers). */
export interface SharedObjectContext<S extends StateShape = UntypedState> extends BaseContext {
  /** The object's key. */
  readonly key: string;
  // Untyped state first: there `ctx.get<string>("a")` must pick this overload (with the K
  // overload first, an explicit type argument bound K and the result was `any`). For a typed
  // state FreeName<S> is never, so only the K overload applies.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- untyped state reads as any, like an untyped Map
  get<T = any>(name: FreeName<S>): Promise<T | null>;
  get<K extends StateName<S>>(name: K): Promise<S[K] | null>;
  stateKeys(): Promise<string[]>;
}

/**
 * How ctx.emit encodes a record's value: "json" (default) JSON text; "string" a string as
 * UTF-8; "bytes" a Buffer or Uint8Array as is; `avro({ schema })` Avro in the Confluent wire
 * format with the schema registered under `<topic>-value` (or `subject`). In "string",
 * "bytes" and avro(), a null value writes a tombstone (a record without value); in "json" it
 * writes the JSON text `null`.
 */
export type EmitFormat = "json" | "string" | "bytes" | AvroFormat;

/** A record for ctx.emit. Records with the same key go to the same partition (Kafka's murmur2). */
export interface EmitRecord {
  /** Record key (UTF-8 for a string); null or absent: no key, Kafka picks the partition. */
  key?: string | Buffer | Uint8Array | null;
  value: unknown;
  headers?: Record<string, string>;
}

export interface EmitOptions {
  format?: EmitFormat;
}

/** Handlers that may write records to other topics (exclusive handlers and services). */
export interface EmittingContext {
  /**
   * Writes a record to `topic` in the transaction that completes this invocation, together
   * with its state changes and outcome: read_committed consumers see it exactly once, and only
   * if the invocation succeeds (a failed invocation's records are never visible; of a retried
   * invocation, only the records of the attempt that succeeded are). Nothing is written
   * before the invocation completes.
   *
   * Throws at the call (a non-retryable error) for a record that could never be written: codes
   * `invalid_emit_topic`, `reserved_emit_topic` (the app's own topics, `__*` topics),
   * `invalid_emit` (a value of the wrong type for the format; with `avro()`, no schema, a
   * schema that is not Avro or a value that does not match it), `record_too_large` (key,
   * value and headers above maxRecordBytes), `too_many_emits` (more than 1,000 records or
   * 8 MiB in one invocation). A topic that does not exist fails the invocation when it
   * completes, with `unknown_emit_topic`: create output topics beforehand.
   *
   * With `avro({ schema })` the Schema Registry is asked for the schema id when the
   * invocation completes: while it is unavailable the completion waits and retries
   * (`schema_registry_unavailable`, then the invocation's retry policy); a schema it refuses
   * fails the invocation with `schema_rejected` (docs/schema-registry.md).
   */
  emit(topic: string, record: EmitRecord, options?: EmitOptions): void;
}

/** Exclusive handlers: one at a time per key, in arrival order; may change state. */
export interface ObjectContext<S extends StateShape = UntypedState> extends SharedObjectContext<S>, EmittingContext {
  set<K extends StateName<S>>(name: K, value: S[K]): void;
  set<T>(name: FreeName<S>, value: T): void;
  clear(name: StateName<S>): void;
  clearAll(): void;
}

/** Keyless service handlers: no state; may emit records. */
export interface ServiceContext extends BaseContext, EmittingContext {}

/** A workflow's durable promises (see workflow() in definitions.ts). */
export interface WorkflowPromises {
  /** The durable promise `name` of this workflow id. */
  promise<T = unknown>(name: string): DurablePromiseHandle<T>;
}

/** The context of a workflow's `run`: an exclusive object context with durable promises. */
export interface WorkflowContext<S extends StateShape = UntypedState> extends ObjectContext<S>, WorkflowPromises {}

/** The context of a workflow's other handlers: shared (read-only state), with durable promises. */
export interface WorkflowSharedContext<S extends StateShape = UntypedState> extends SharedObjectContext<S>, WorkflowPromises {}
