/**
 * ctx.emit with `avro({ schema, subject? })`: the value is written as Avro in the Confluent wire
 * format (magic byte 0, the schema's registry id, the Avro body), the schema registered (or looked
 * up) under `subject`, by default `<topic>-value`.
 *
 * Two phases, because ctx.emit is synchronous and the registry is not:
 *  1. At the call, prepareAvroEmit() checks everything that can be checked without the registry
 *     (a schema is given and parses, the value matches it) and encodes the Avro body. A value
 *     that could never be written is refused there, with the `invalid_emit` of the other formats.
 *     The body is also a snapshot: a handler mutating its object after the call changes nothing.
 *     The record gets a placeholder value of the final size (5-byte frame + body), so the
 *     per-record and per-invocation size limits are checked at the call, exactly.
 *  2. When the attempt's handler has returned, before the completion is written,
 *     encodeAvroEmits() asks the registry (through the AvroPayloads port) and swaps the real
 *     framed bytes in. A registry that is down is retried here with backoff, then handed to the
 *     invocation's retry policy; a refusal (schema_rejected, avro_encode_failed) fails the
 *     invocation. Placeholders never reach a transaction: the completion is written only after
 *     this phase succeeded.
 */
import avsc from "avsc";
import type { AvroFormat, AvroSchema } from "../../sdk/avro_format.js";
import { ConfigurationError, KvoError, TerminalError, toKvoError } from "../../sdk/errors.js";
import { backoffDelay, type ResolvedRetryPolicy } from "../../sdk/retry.js";
import { recordBytes } from "../commit/batch.js";
import type { OutboundRecord } from "../log/log.js";
import { RecordTooLargeError } from "../partition/limits.js";
import type { AvroPayloads } from "../payload/avro_port.js";
import { avroProblems, avroTypeName } from "../payload/avro_validation.js";
import type { Clock, Logger } from "../support.js";

/** Bytes of the Confluent frame before the Avro body: magic byte and 4-byte schema id. */
const FRAME_HEADER_BYTES = 5;

/**
 * Retries of a registry that is unavailable, within one attempt (about 11 s in all), before the
 * error goes to the invocation's retry policy, which runs the handler again later.
 */
export const AVRO_ENCODE_RETRY: ResolvedRetryPolicy = { initialIntervalMs: 100, factor: 2, maxIntervalMs: 5_000, maxAttempts: 8 };

/** What phase 2 needs to know of one Avro record prepared at the call. */
interface PendingAvro {
  subject: string;
  schema: AvroSchema;
  type: avsc.Type;
  /** The Avro body encoded at the call: the snapshot of the value that is sent. */
  body: Buffer;
  /** maxRecordBytes when the call was made, checked again on the registry's bytes. */
  maxRecordBytes: number;
  /** `<invocation>: ctx.emit("<topic>")`, for messages. */
  call: string;
}

/**
 * Records whose value still waits for the registry, keyed by the record object the context keeps
 * in its overlay (so the context and the overlay need not know about Avro). Weak: records of an
 * abandoned attempt go with it.
 */
const pending = new WeakMap<OutboundRecord, PendingAvro>();

export function isAvroFormat(format: unknown): format is AvroFormat {
  return typeof format === "object" && format !== null && (format as { kind?: unknown }).kind === "avro";
}

/**
 * Phase 1, at the ctx.emit call: returns the value to put in the record for now (a placeholder
 * of the final size, or null for a tombstone) and what phase 2 needs, or throws `invalid_emit`.
 * A null value is a tombstone (no value, nothing registered), as Confluent's serializers do.
 */
export function prepareAvroEmit(
  topic: string,
  value: unknown,
  format: AvroFormat,
  maxRecordBytes: number,
  call: string,
): { placeholder: Buffer | null; pending: PendingAvro | null } {
  const schema = format.schema;
  if (schema === undefined || schema === null || (typeof schema !== "object" && typeof schema !== "string")) {
    throw invalidEmit(
      `${call}: format avro() needs the writer schema: ctx.emit(topic, record, { format: avro({ schema }) }), ` +
        `with the Avro schema as an object (a record definition) or a primitive type name.`,
    );
  }
  const subject = format.subject ?? `${topic}-value`;
  if (typeof subject !== "string" || subject.length === 0) {
    throw invalidEmit(`${call}: avro({ subject }) must be a non-empty string (default "${topic}-value"), got ${JSON.stringify(subject)}.`);
  }
  const type = parsedType(schema, call);
  if (value === null) return { placeholder: null, pending: null };
  const invalid = avroProblems(type, value);
  if (invalid) {
    throw invalidEmit(
      `${call}: the value does not match the Avro schema ${avroTypeName(type)}: ${invalid.problems.join("; ")}. ` +
        `Fix the value (or the schema) so that every field has the declared type (a long must be a safe integer, bytes a Buffer).`,
    );
  }
  let body: Buffer;
  try {
    body = type.toBuffer(value);
  } catch (cause) {
    throw invalidEmit(`${call}: the value does not encode with the Avro schema ${avroTypeName(type)}: ${(cause as Error).message}.`, cause);
  }
  // The frame header is filled in by phase 2; until then only the length matters.
  const placeholder = Buffer.concat([Buffer.alloc(FRAME_HEADER_BYTES), body]);
  return { placeholder, pending: { subject, schema, type, body, maxRecordBytes, call } };
}

/** Marks `record` (the one ctx.emit keeps) as waiting for phase 2. */
export function markAvroPending(record: OutboundRecord, avro: PendingAvro): void {
  pending.set(record, avro);
}

/** What phase 2 uses of the processor's configuration. */
export interface AvroEmitEnvironment {
  /** The registry port; without it an Avro emit fails the invocation (a configuration error). */
  avroPayloads?: AvroPayloads | undefined;
  clock: Clock;
  logger: Logger;
}

/** The attempt the records belong to: once it is aborted (timeout, cancel, close) nothing is retried. */
export interface AvroEmitAttempt {
  readonly aborted: boolean;
}

/**
 * Phase 2, after the handler returned and before the completion is written: replaces the
 * placeholder of each Avro record of `emits` by its registry-framed bytes. Null when there is
 * none (no wait at all). Rejects with a KvoError: `configuration` (no registry port),
 * `schema_rejected` / `avro_encode_failed` (terminal), `record_too_large`, or
 * `schema_registry_unavailable` (retryable) once AVRO_ENCODE_RETRY is exhausted.
 */
export function encodeAvroEmits(
  emits: readonly OutboundRecord[],
  env: AvroEmitEnvironment,
  attempt: AvroEmitAttempt,
): Promise<void> | null {
  if (emits.length === 0) return null; // most invocations: no allocation at all
  const waiting = emits.filter((r) => pending.has(r));
  if (waiting.length === 0) return null;
  // Once one record failed the attempt fails: the others stop retrying.
  let failed = false;
  const run: EncodeRun = { env, stopped: () => failed || attempt.aborted, warnedTries: new Set() };
  const done = Promise.all(
    waiting.map((r) =>
      encodeOne(r, pending.get(r)!, run).catch((error: unknown) => {
        failed = true;
        throw error;
      }),
    ),
  ).then(() => undefined);
  // The processor races this against the attempt's interruption; a rejection after that has
  // nobody waiting and must not become an unhandled rejection.
  done.catch(() => undefined);
  return done;
}

/** One phase 2 of one attempt, shared by its records. */
interface EncodeRun {
  env: AvroEmitEnvironment;
  /** The attempt was abandoned, or another of its records failed it. */
  stopped: () => boolean;
  /** Retry rounds already logged: records failing together (one registry outage) log once. */
  warnedTries: Set<number>;
}

async function encodeOne(record: OutboundRecord, avro: PendingAvro, { env, stopped, warnedTries }: EncodeRun): Promise<void> {
  const payloads = env.avroPayloads;
  if (!payloads) {
    throw new ConfigurationError(
      `${avro.call} with format avro(): this runtime has no Schema Registry connection (RuntimePorts.avroPayloads), so the invocation failed ` +
        `and none of its records were written. Create the runtime with createRuntime() (it connects to KVO_SCHEMA_REGISTRY_URL or the ` +
        `schemaRegistry option), or pass ports.avroPayloads to new Runtime().`,
    );
  }
  // The value sent is the one validated at the call (decoded from its snapshot), not the
  // handler's object as it may be now.
  const value: unknown = avro.type.fromBuffer(avro.body);
  for (let tries = 1; ; tries++) {
    let error: KvoError;
    try {
      const framed = await payloads.encode(avro.subject, avro.schema, value);
      if (stopped()) return; // abandoned meanwhile: its records are dropped with it
      const encoded: OutboundRecord = { ...record, value: framed };
      const bytes = recordBytes(encoded);
      if (bytes > avro.maxRecordBytes)
        throw new RecordTooLargeError(`${avro.call}: the Avro record (key, value and headers)`, bytes, avro.maxRecordBytes);
      record.value = framed;
      pending.delete(record);
      return;
    } catch (thrown) {
      if (thrown instanceof RecordTooLargeError) throw thrown;
      error = registryError(thrown, avro);
    }
    if (!error.retryable || tries >= AVRO_ENCODE_RETRY.maxAttempts || stopped()) throw error;
    const delay = backoffDelay(AVRO_ENCODE_RETRY, tries);
    if (!warnedTries.has(tries)) {
      warnedTries.add(tries);
      env.logger.warn(`${error.message}; retrying the Avro encoding in ${delay} ms (try ${tries} of ${AVRO_ENCODE_RETRY.maxAttempts})`);
    }
    await new Promise<void>((resolve) => env.clock.setTimeout(resolve, delay));
    if (stopped()) throw error;
  }
}

/** The port's error with the call in its message; code and retryable kept (an unknown error is retryable). */
function registryError(thrown: unknown, avro: PendingAvro): KvoError {
  const error = toKvoError(thrown);
  return new KvoError(`${avro.call}: Avro encoding under subject "${avro.subject}" failed: ${error.message}`, {
    code: error.code,
    retryable: error.retryable,
    cause: thrown,
  });
}

// ---- parsed schemas ------------------------------------------------------------------------

/** Parsed types by schema object: schemas are constants, parsed once (assumed not mutated). */
const typesByObject = new WeakMap<object, avsc.Type>();
/** Parsed types of schemas given as a type name ("string", "long"): few, kept bounded anyway. */
const typesByName = new Map<string, avsc.Type>();
const MAX_NAMED_TYPES = 256;

function parsedType(schema: object | string, call: string): avsc.Type {
  const cached = typeof schema === "string" ? typesByName.get(schema) : typesByObject.get(schema);
  if (cached) return cached;
  let type: avsc.Type;
  try {
    // wrapUnions "auto" as in the Schema Registry adapter, so both accept the same values. A
    // fresh options object each time: avsc keeps its named types in it.
    type = avsc.Type.forSchema(schema as avsc.Schema, { wrapUnions: "auto" });
  } catch (cause) {
    throw invalidEmit(`${call}: avro({ schema }) is not a valid Avro schema: ${(cause as Error).message}.`, cause);
  }
  if (typeof schema !== "string") typesByObject.set(schema, type);
  else if (typesByName.size < MAX_NAMED_TYPES) typesByName.set(schema, type);
  return type;
}

function invalidEmit(message: string, cause?: unknown): TerminalError {
  return new TerminalError(message, { code: "invalid_emit", cause });
}
