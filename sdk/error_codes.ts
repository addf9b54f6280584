/**
 * The catalogue of every stable error code KVO itself raises, records in an outcome or a reply,
 * or writes into a DLQ record's `kvo-error-code` header. docs/errors.md mirrors it (grouped, with
 * where each code appears); test/unit/error_catalogue.test.ts fails when the two drift apart or
 * when sdk/, runtime/ or connectors/ use a code literal that is not listed here.
 *
 * `retryable` is the flag the error carrying the code has (KvoError.retryable): true means the
 * runtime (or the caller) may try the same work again and it can succeed; false means it never
 * will until something is fixed. Codes that only ever appear in a recorded failure (a reply,
 * an outcome, a DLQ header) are final for that record and listed as not retryable.
 *
 * Handlers may use codes of their own (`new TerminalError(msg, { code: "bad_amount" })`): those
 * are the application's, not KVO's, and are not listed. That is why KvoError's `code` stays a
 * `string`; KVO's own error classes take an {@link ErrorCode} where they are given one.
 */

export interface ErrorCodeInfo {
  /** The `retryable` flag of the errors that carry this code. */
  readonly retryable: boolean;
  /** What happened, in one line, and what to do about it. */
  readonly meaning: string;
}

const catalogue = {
  // ---- bad input records on <app>.invocations: DLQ copy + failure reply when a reply topic was named
  missing_key: {
    retryable: false,
    meaning: 'The record has no key, or an object call has no "/<key>" part. Key records "<Object>/<key>" or "<Service>".',
  },
  invalid_key: {
    retryable: false,
    meaning: "The record key or the kvo-idempotency-key header is not valid UTF-8. Send text; encode binary ids as hex or base64.",
  },
  unknown_target: {
    retryable: false,
    meaning: "No object or service of that name is registered in this app. Fix the record key or register the definition.",
  },
  missing_handler: { retryable: false, meaning: "The kvo-handler header is missing. Name the handler to call." },
  unknown_handler: {
    retryable: false,
    meaning:
      "The target has no handler of that name (or it was removed while an invocation of it was in flight). Fix the kvo-handler header or keep the handler registered.",
  },
  invalid_input: { retryable: false, meaning: "The record value is not JSON. Send JSON, or an empty value for no input." },
  // ---- bad records of subscribed topics: DLQ copy (with kvo-subscription), the subscription goes on
  decode_failed: {
    retryable: false,
    meaning: "A subscription's own decoder (decoder(fn)) threw on the record value. Fix the decoder or the producer.",
  },
  filter_failed: {
    retryable: false,
    meaning: "A subscription's filter threw on the record. Make the filter total (return false instead of throwing).",
  },
  invalid_cancel: {
    retryable: false,
    meaning: "A kvo-cancel header is empty. Set it to the id of the invocation to cancel (kvo-invocation-id of its reply).",
  },
  invalid_reply_to: {
    retryable: false,
    meaning: "The kvo-reply-to header is not a valid Kafka topic name. Name an existing topic of your own.",
  },
  reserved_reply_topic: {
    retryable: false,
    meaning: "The reply topic is one of the app's own topics or a Kafka internal one. Name a topic of your own for replies.",
  },
  unknown_reply_topic: {
    retryable: false,
    meaning: "The reply topic does not exist. Create it before sending (the KVO client creates its own).",
  },
  invalid_correlation_id: {
    retryable: false,
    meaning: "The kvo-correlation-id header is longer than 1,000 characters. Send a shorter one.",
  },
  too_many_callers: {
    retryable: false,
    meaning: "An in-flight invocation already has maxReplyTargets callers waiting (or no room for another). Send the request again later.",
  },
  not_in_flight: {
    retryable: false,
    meaning:
      "A cancel named an invocation that is not in flight on its partition (finished, unknown, or keyed elsewhere). Nothing was cancelled.",
  },
  wrong_partition: {
    retryable: false,
    meaning:
      "An object's record is on another partition than Kafka's default (murmur2) partitioner gives its key: its producer partitions differently. Use partitioner=murmur2_random.",
  },
  too_many_waiting: {
    retryable: false,
    meaning:
      "A partition already holds maxSuspendedPerPartition invocations waiting for calls, timers or awakeables; the new invocation was refused. Send it later or raise the limit.",
  },
  record_too_large: {
    retryable: false,
    meaning:
      "An input, output, state value, journal or emitted record is above maxRecordBytes. Keep large payloads outside Kafka and pass a reference.",
  },

  // ---- handler and invocation failures: the invocation's outcome and its failure reply
  terminal: {
    retryable: false,
    meaning: "A handler threw TerminalError without a code of its own. The failure is final; fix the input or the handler.",
  },
  unknown: {
    retryable: true,
    meaning: "A handler threw something that is not a KvoError; it was retried and the last attempt failed too. See the message.",
  },
  attempt_timeout: {
    retryable: true,
    meaning: "An attempt ran longer than attemptTimeoutMs and was abandoned. Raise the timeout, or pass ctx.run's AbortSignal on to I/O.",
  },
  cancelled: {
    retryable: false,
    meaning: "The invocation was cancelled (runtime.cancel, client.cancel or a kvo-cancel record); its state writes were discarded.",
  },
  timeout: {
    retryable: false,
    meaning: "A durable promise's orTimeout(ms) timer won: the call, awakeable or promise did not complete in time (journaled).",
  },
  call_cycle: {
    retryable: false,
    meaning:
      "An exclusive call targets an object key the call chain already holds (A/1 → B/2 → A/1): it would deadlock. Use a send or a shared handler.",
  },
  awakeable_rejected: {
    retryable: false,
    meaning: "An awakeable was rejected (client.rejectAwakeable, ctx.rejectAwakeable or a rejection record) without a code of its own.",
  },
  promise_rejected: {
    retryable: false,
    meaning: "A workflow's durable promise was rejected (ctx.promise(name).reject) without a code of its own.",
  },
  unknown_call_target: {
    retryable: false,
    meaning: "ctx.object/ctx.service/ctx.send named a definition or handler that this app does not register. Register it in the runtime.",
  },
  invalid_duration: {
    retryable: false,
    meaning: "ctx.sleep, orTimeout or a send delay got a negative or non-finite number of ms, or one above 365 days. Pass 0..365 days.",
  },
  reserved_state_name: {
    retryable: false,
    meaning: 'A state name starts with "$kvo.", which the runtime keeps for workflows. Choose another name.',
  },
  unknown_awakeable: {
    retryable: false,
    meaning:
      "An awakeable resolution named an awakeable that is not pending on its partition (already completed, its invocation ended, or misrouted).",
  },
  invalid_awakeable: {
    retryable: false,
    meaning:
      "An awakeable resolution is malformed: its id is not awk.<partition>.<entry>.<id>, it is on another partition, or its value is not JSON.",
  },
  invalid_completion: {
    retryable: false,
    meaning: "A call completion record (kvo-complete) is malformed or matches no pending call. Only the runtime writes these.",
  },
  suspended: {
    retryable: true,
    meaning:
      "An attempt that waited for a call, timer or awakeable was set aside to free memory; it resumes by replay when the outcome arrives. Never an outcome.",
  },
  partition_closed: {
    retryable: true,
    meaning:
      "The partition running the attempt was revoked, fenced or stopped; the invocation resumes from its journal where it is restored.",
  },
  non_deterministic: {
    retryable: true,
    meaning: "A replay took another action than the journal recorded. Make the handler deterministic (use ctx.run, ctx.rand, ctx.date).",
  },
  shared_handler_write: {
    retryable: false,
    meaning: "A shared (read-only) handler tried to change state or emit. Move the write into an exclusive handler.",
  },
  serialization: {
    retryable: false,
    meaning: "A value could not be converted to or from its wire form (e.g. not JSON-serialisable). Return or store plain JSON values.",
  },
  invalid_state_value: { retryable: false, meaning: "ctx.set was given undefined. Use ctx.clear(name) to remove a value." },
  no_key: { retryable: false, meaning: "ctx.key was read in a service handler. Services have no key; use an object." },
  no_state: { retryable: false, meaning: "A state method was called in a service handler. Services have no state; use an object." },
  context_ended: { retryable: false, meaning: "The ctx of a finished attempt was used. Await every ctx call inside the handler." },
  emit_unavailable: {
    retryable: false,
    meaning:
      "ctx.emit was called where the runtime gave the context no emit policy (a bare test context). Run the handler in a partition processor.",
  },
  invalid_emit: {
    retryable: false,
    meaning: "ctx.emit got a malformed record (key, value, format or headers). Fix the call as the message says.",
  },
  invalid_emit_topic: { retryable: false, meaning: "ctx.emit named an invalid Kafka topic name. Pass the name of an existing topic." },
  reserved_emit_topic: {
    retryable: false,
    meaning: "ctx.emit named one of the app's own topics or a Kafka internal one. Emit to a topic of your own.",
  },
  too_many_emits: {
    retryable: false,
    meaning: "An invocation emitted more records or bytes than one transaction allows. Split the work over several invocations.",
  },
  unknown_emit_topic: {
    retryable: false,
    meaning: "An emitted-to topic does not exist, so the invocation failed and wrote nothing. Create output topics first.",
  },

  // ---- configuration: thrown at start-up or where the option is used; fix and restart
  configuration: {
    retryable: false,
    meaning: "Bad configuration (options, topics, the runtime used in the wrong state). Fix what the message names and restart.",
  },
  invalid_retry_policy: {
    retryable: false,
    meaning: "A retry policy field is out of range (e.g. maxAttempts: Infinity). Use finite values as the message says.",
  },
  invalid_attempt_timeout: {
    retryable: false,
    meaning: "An attemptTimeoutMs is not an integer between 1 ms and ~24.8 days. Fix the option.",
  },
  topic_create_failed: {
    retryable: false,
    meaning: "The broker refused to create one of the app's topics. Check ACLs, broker limits and the message.",
  },
  topic_partition_count_mismatch: {
    retryable: false,
    meaning: "An existing topic has another partition count than the app needs. Recreate it or change the app's partitions.",
  },
  topic_cleanup_policy_mismatch: {
    retryable: false,
    meaning: "An existing topic has another cleanup.policy than the app needs. Fix the topic's config.",
  },
  topic_config_mismatch: {
    retryable: false,
    meaning: "Several existing topics do not match the app, for different reasons. Fix each one listed in the message.",
  },

  // ---- Kafka and transport
  fenced: {
    retryable: false,
    meaning:
      "This process lost ownership (group generation or producer fenced); its uncommitted work is discarded. Give each process its own instanceId.",
  },
  kafka_transient: {
    retryable: true,
    meaning:
      "A Kafka operation failed without effect (broker down, timeout, aborted transaction). Retried; check the brokers if it persists.",
  },
  kafka_transport_stopped: {
    retryable: false,
    meaning: "The Kafka transport was stopped while the operation ran; nothing of it took effect.",
  },

  // ---- changelog restore
  newer_schema_version: {
    retryable: false,
    meaning: "A record was written by a newer KVO than this process reads. Upgrade every process of the app.",
  },
  corrupt_changelog_record: {
    retryable: false,
    meaning:
      "A changelog record could not be decoded; it was copied to the DLQ, tombstoned, and the restore went on. Inspect the DLQ copy.",
  },

  // ---- client (connectClient)
  reply_timeout: {
    retryable: true,
    meaning: "No reply arrived in time (or the client closed). The invocation may still run: it is durable once sent.",
  },
  invocation_id_unknown: {
    retryable: false,
    meaning: "The producer did not report where the invocation record was written, so its id is unknown. Check the producer.",
  },

  // ---- Schema Registry payloads (AvroPayloadErrorCodes)
  not_avro: {
    retryable: false,
    meaning: "The bytes are not Confluent-framed Avro (too short, magic byte not 0, or the id names a non-Avro schema).",
  },
  unknown_schema_id: {
    retryable: false,
    meaning: "The registry has no schema with the frame's id. Point KVO_SCHEMA_REGISTRY_URL at the producer's registry.",
  },
  avro_decode_failed: {
    retryable: false,
    meaning: "The body does not decode with its writer schema (truncated, trailing bytes, long out of range).",
  },
  incompatible_reader_schema: {
    retryable: false,
    meaning: "The writer schema cannot be resolved into the requested reader schema. Make the schemas compatible.",
  },
  avro_encode_failed: {
    retryable: false,
    meaning: "The value does not match the schema it is encoded with; the error lists the offending fields.",
  },
  schema_rejected: {
    retryable: false,
    meaning: "The schema is not valid Avro or the registry refused it for the subject (incompatible, unknown subject).",
  },
  schema_registry_unavailable: {
    retryable: true,
    meaning: "The registry could not be reached or answered with a server-side error. Retried; check the registry.",
  },
} as const satisfies Record<string, ErrorCodeInfo>;

for (const info of Object.values(catalogue)) Object.freeze(info);

/** Every stable code KVO raises or records, with its retryable flag and meaning. Frozen. */
export const ERROR_CODES: Readonly<typeof catalogue> = Object.freeze(catalogue);

/** A stable code KVO itself uses (user TerminalError codes are plain strings). */
export type ErrorCode = keyof typeof ERROR_CODES;

/** True when `code` is one of KVO's own codes (false for application codes such as "bad_amount"). */
export function isErrorCode(code: string): code is ErrorCode {
  return Object.prototype.hasOwnProperty.call(ERROR_CODES, code);
}
