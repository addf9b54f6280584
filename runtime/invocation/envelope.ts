import { handlersOf } from "../../sdk/definitions.js";
import { KvoError } from "../../sdk/errors.js";
import type { ErrorCode } from "../../sdk/error_codes.js";
import { createHash } from "node:crypto";
import type { InboundRecord, OutboundRecord } from "../log/log.js";
import type { FailureRecord, InvocationRecord, ReplyTarget } from "../codec/records.js";
import { decodeJson } from "../codec/json_payload.js";
import type { Registry } from "../registry.js";
import { H, KVO_HEADER_PREFIX } from "./headers.js";
import { isSourceHeader, sourceInvocationId, splitSourceHeaders } from "../ingress/source_headers.js";
import { calleeInvocationId, callerOf, isCallRequestHeader } from "./call_headers.js";
import { isValidTopicName, type ReplyTopicStatus } from "./reply_topics.js";

/**
 * A well-formed invocation request read from `<app>.invocations`: the request part of the
 * InvocationRecord it becomes, with at most one reply target (the record's own).
 */
export type ParsedInvocation = Pick<InvocationRecord, "id" | "target" | "key" | "handler" | "input" | "headers" | "idempotencyKey"> & {
  replyTo: ReplyTarget | null;
  /** The input decoded while checking it (so the first attempt need not decode it again). */
  decodedInput: unknown;
};

/** Bad input: the reason, and where to send the failure if the record named a reply topic. */
export interface RejectedInvocation {
  error: KvoError;
  replyTo: ReplyTarget | null;
  id: string;
}

export class BadInvocationError extends KvoError {
  constructor(code: ErrorCode, message: string) {
    super(message, { code, retryable: false });
  }
}

function header(record: InboundRecord, name: string): string | null {
  const value = record.headers[name];
  return value === undefined ? null : value.toString("utf8");
}

/** Decodes keys exactly: a lossy decode (U+FFFD) would turn different keys into one. */
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function utf8OrNull(bytes: Buffer): string | null {
  // Buffer's own decoder is much faster than TextDecoder; it turns invalid bytes into U+FFFD,
  // so only text containing U+FFFD (invalid bytes, or a real U+FFFD) needs the strict decoder.
  const text = bytes.toString("utf8");
  if (!text.includes("\uFFFD")) return text;
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return null;
  }
}

function hexPreview(bytes: Buffer): string {
  return `${bytes.subarray(0, 32).toString("hex")}${bytes.length > 32 ? "…" : ""} (${bytes.length} bytes)`;
}

/**
 * Invocation ids are deterministic: from the idempotency key when there is one (so a
 * re-sent request maps to the same invocation), else from the record's position.
 *
 * `routingKey` is what follows `<target>/` in the record key: the object key, or whatever a
 * caller put there to spread a service's calls over partitions (null when the record key is
 * just `<target>`). It is part of the id because Kafka partitions by the whole record key: two
 * records that differ only there may land on different partitions, and one id must never
 * name two invocations (each partition would run its own, and `ctx.request.id`, which
 * handlers hand to external systems as an idempotency key, would collide). Re-sending with
 * the same record key reaches the same partition and the same id.
 */
export function invocationId(
  partition: number,
  offset: bigint,
  target: string,
  routingKey: string | null,
  handler: string,
  idempotencyKey: string | null,
): string {
  if (idempotencyKey === null) return `p${partition}-o${offset}`;
  const digest = createHash("sha256")
    .update(JSON.stringify([target, routingKey, handler, idempotencyKey]))
    .digest("base64url");
  return `ik-${digest.slice(0, 32)}`;
}

/** Longest correlation id accepted: it is copied into the invocation record and every reply. */
export const MAX_CORRELATION_ID_CHARS = 1_000;

/**
 * Why no reply can be sent to a record's reply topic, or null when it can. Checked before
 * anything else: a reply to a missing topic could never commit, and a reply into the app's own
 * topics (changelog, invocations, DLQ, Kafka's `__*`) would let any producer write into the
 * runtime's state.
 *
 * @param replyTopicStatus what is known of a reply topic (undefined: not known, taken as existing:
 *   the runtime looks every topic up right before it ingests a record naming it).
 */
export function replyTopicProblem(record: InboundRecord, replyTopicStatus: (topic: string) => ReplyTopicStatus): BadInvocationError | null {
  const replyTopic = header(record, H.replyTo);
  if (replyTopic === null) return null;
  const at = `record ${record.partition}@${record.offset}`;
  if (!isValidTopicName(replyTopic)) {
    return new BadInvocationError(
      "invalid_reply_to",
      `${at}: header ${H.replyTo} "${replyTopic.slice(0, 300)}" is not a valid Kafka topic name (1-249 of [A-Za-z0-9._-]).`,
    );
  }
  const status = replyTopicStatus(replyTopic);
  if (status === "reserved") {
    return new BadInvocationError(
      "reserved_reply_topic",
      `${at}: reply topic "${replyTopic}" (header ${H.replyTo}) is one of the runtime's own topics (invocations, changelog, DLQ) or a Kafka internal topic; ` +
        `only the runtime writes there. Name a topic of your own for replies.`,
    );
  }
  if (status === "missing") {
    return new BadInvocationError(
      "unknown_reply_topic",
      `${at}: reply topic "${replyTopic}" (header ${H.replyTo}) does not exist. Create it before sending (the KVO client creates its own).`,
    );
  }
  const correlationId = header(record, H.correlationId);
  if (correlationId !== null && correlationId.length > MAX_CORRELATION_ID_CHARS) {
    return new BadInvocationError(
      "invalid_correlation_id",
      `${at}: header ${H.correlationId} has ${correlationId.length} characters; at most ${MAX_CORRELATION_ID_CHARS} are accepted.`,
    );
  }
  return null;
}

/** The id of a record that became no invocation (its rejection's replies and DLQ copy name it). */
function positionId(record: InboundRecord): string {
  return `p${record.partition}-o${record.offset}`;
}

function where(record: InboundRecord): string {
  return `record ${record.partition}@${record.offset}`;
}

function reject(code: ErrorCode, message: string, record: InboundRecord, replyTo: ReplyTarget | null): RejectedInvocation {
  return { error: new BadInvocationError(code, message), replyTo, id: positionId(record) };
}

const noStatus = (): ReplyTopicStatus => undefined;

/**
 * Checks an invocation record and takes it apart. Runs for every record a partition consumes,
 * so it creates no closures, and what only a rejection needs (its messages, the position id)
 * is built only when rejecting.
 */
export function parseInvocation(
  record: InboundRecord,
  registry: Registry,
  replyTopicStatus: (topic: string) => ReplyTopicStatus = noStatus,
): ParsedInvocation | RejectedInvocation {
  const replyTopic = header(record, H.replyTo);
  const replyTo: ReplyTarget | null = replyTopic ? { topic: replyTopic, correlationId: header(record, H.correlationId) } : null;
  // checked first: no failure reply can be sent to such a topic either
  const problem = replyTopic === null ? null : replyTopicProblem(record, replyTopicStatus);
  if (problem) return { error: problem, replyTo: null, id: positionId(record) };
  if (record.key === null || record.key.length === 0) {
    return reject(
      "missing_key",
      `${where(record)} has no key. Set the record key to "<Object>/<key>" (or "<Service>" for a service).`,
      record,
      replyTo,
    );
  }
  const rawKey = utf8OrNull(record.key);
  if (rawKey === null) {
    return reject(
      "invalid_key",
      `${where(record)}: the record key is not valid UTF-8 (hex ${hexPreview(record.key)}). Keys are text: produce the key "<Object>/<key>" ` +
        `(or "<Service>[/<routing key>]") encoded as UTF-8; encode a binary id as hex or base64 first.`,
      record,
      replyTo,
    );
  }
  const slash = rawKey.indexOf("/");
  const target = slash < 0 ? rawKey : rawKey.slice(0, slash);
  // The object key; for a service it only routes the record (see invocationId).
  const routingKey = slash < 0 ? null : rawKey.slice(slash + 1);
  const def = registry.find(target);
  if (!def) {
    return reject(
      "unknown_target",
      `${where(record)}: no object or service named "${target}" is registered in this app (known: ${registry.names().join(", ") || "none"}).`,
      record,
      replyTo,
    );
  }
  if (def.kind === "object" && (routingKey === null || routingKey.length === 0)) {
    return reject(
      "missing_key",
      `${where(record)}: object ${target} needs a key; set the record key to "${target}/<key>".`,
      record,
      replyTo,
    );
  }
  const handler = header(record, H.handler);
  if (!handler)
    return reject(
      "missing_handler",
      `${where(record)}: header ${H.handler} is missing; name the handler of ${target} to call (one of: ${Object.keys(handlersOf(def)).join(", ")}).`,
      record,
      replyTo,
    );
  if (!Object.hasOwn(handlersOf(def), handler)) {
    return reject(
      "unknown_handler",
      `${where(record)}: ${target} has no handler "${handler}" (known: ${Object.keys(handlersOf(def)).join(", ")}).`,
      record,
      replyTo,
    );
  }
  let decodedInput: unknown;
  try {
    decodedInput = decodeJson(record.value, `input of ${target}.${handler}`);
  } catch (e) {
    return reject(
      "invalid_input",
      `${where(record)}: ${(e as Error).message}. The record value must be JSON (or empty for no input).`,
      record,
      replyTo,
    );
  }
  const userHeaders: Record<string, string> = {};
  let fromSource = false;
  let fromCall = false;
  const headers = record.headers;
  for (const name of Object.keys(headers)) {
    // kvo-source-* (a subscription's relay) are kept: they become ctx.request.source; kvo-caller*
    // (a call from another handler) are kept: they say where the outcome goes, after a restore too
    if (!name.startsWith(KVO_HEADER_PREFIX)) userHeaders[name] = headers[name]!.toString("utf8");
    else if (isSourceHeader(name)) {
      fromSource = true;
      userHeaders[name] = headers[name]!.toString("utf8");
    } else if (isCallRequestHeader(name)) {
      fromCall = true;
      userHeaders[name] = headers[name]!.toString("utf8");
    }
  }
  let idempotencyKey: string | null = null; // an empty header means none
  const idempotencyBytes = headers[H.idempotencyKey];
  if (idempotencyBytes !== undefined && idempotencyBytes.length > 0) {
    idempotencyKey = utf8OrNull(idempotencyBytes);
    if (idempotencyKey === null) {
      return reject(
        "invalid_key",
        `${where(record)}: header ${H.idempotencyKey} is not valid UTF-8 (hex ${hexPreview(idempotencyBytes)}). Send the idempotency key as UTF-8 text; encode a binary id as hex or base64 first.`,
        record,
        replyTo,
      );
    }
  }
  const key = def.kind === "object" ? routingKey : null;
  // made by a subscription: the id names the source record (see ingress/source_headers.ts)
  const source = idempotencyKey === null && fromSource ? splitSourceHeaders(userHeaders).source : undefined;
  // made by a call: the id names the caller's journal entry, so the caller can cancel it
  const caller = fromCall ? callerOf(userHeaders) : null;
  return {
    id: caller
      ? calleeInvocationId(caller.invocationId, caller.entry)
      : source
        ? sourceInvocationId(source)
        : invocationId(record.partition, record.offset, target, routingKey, handler, idempotencyKey),
    target,
    key,
    handler,
    input: record.value && record.value.length > 0 ? record.value : null,
    decodedInput,
    headers: userHeaders,
    replyTo,
    idempotencyKey,
  };
}

export function isRejected(p: ParsedInvocation | RejectedInvocation): p is RejectedInvocation {
  return "error" in p;
}

/** Longest error message copied into a reply's kvo-error-message header. */
const REPLY_HEADER_MESSAGE_CHARS = 300;

/** Reply record: value is the JSON output, or a JSON {code, message} when it failed. */
export function replyRecord(to: ReplyTarget, invocationId: string, value: Buffer | null, failure: FailureRecord | null): OutboundRecord {
  const headers: Record<string, Buffer> = {
    [H.invocationId]: Buffer.from(invocationId),
    [H.status]: Buffer.from(failure ? "failed" : "ok"),
  };
  if (to.correlationId !== null) headers[H.correlationId] = Buffer.from(to.correlationId);
  if (failure) {
    headers[H.errorCode] = Buffer.from(failure.code);
    // The whole message is in the value; the header carries a short form for log tools only.
    headers[H.errorMessage] = Buffer.from(
      failure.message.length > REPLY_HEADER_MESSAGE_CHARS ? `${failure.message.slice(0, REPLY_HEADER_MESSAGE_CHARS)}…` : failure.message,
    );
  }
  return {
    topic: to.topic,
    key: Buffer.from(to.correlationId ?? invocationId),
    value: failure ? Buffer.from(JSON.stringify(failure)) : value,
    headers,
  };
}

/**
 * DLQ record: the original bytes and headers, plus the reason and origin in kvo-* headers.
 * `omitValue` leaves the value out (a record too large to copy), naming its size instead; the
 * source offset still points at the original.
 */
export function dlqRecord(
  dlqTopic: string,
  sourceTopic: string,
  record: InboundRecord,
  failure: FailureRecord,
  omitValue = false,
): OutboundRecord {
  const headers: Record<string, Buffer> = {
    ...record.headers,
    [H.errorCode]: Buffer.from(failure.code),
    [H.errorMessage]: Buffer.from(failure.message),
    [H.dlqSourceTopic]: Buffer.from(sourceTopic),
    [H.dlqSourcePartition]: Buffer.from(String(record.partition)),
    [H.dlqSourceOffset]: Buffer.from(String(record.offset)),
  };
  if (omitValue) headers[H.dlqValueOmittedBytes] = Buffer.from(String(record.value?.length ?? 0));
  return { topic: dlqTopic, key: record.key, value: omitValue ? null : record.value, headers };
}
