import { KvoError } from "../../sdk/errors.js";
import { createHash } from "node:crypto";
import type { InboundRecord, OutboundRecord } from "../log/log.js";
import type { FailureRecord, InvocationRecord, ReplyTarget } from "../codec/records.js";
import { decodeJson } from "../codec/json_payload.js";
import type { Registry } from "../registry.js";
import { H, KVO_HEADER_PREFIX } from "./headers.js";
import { isValidTopicName } from "./reply_topics.js";

/**
 * A well-formed invocation request read from `<app>.invocations`: the request part of the
 * InvocationRecord it becomes, with at most one reply target (the record's own).
 */
export type ParsedInvocation = Pick<InvocationRecord, "id" | "target" | "key" | "handler" | "input" | "headers" | "idempotencyKey"> & {
  replyTo: ReplyTarget | null;
};

/** Bad input: the reason, and where to send the failure if the record named a reply topic. */
export interface RejectedInvocation {
  error: KvoError;
  replyTo: ReplyTarget | null;
  id: string;
}

export class BadInvocationError extends KvoError {
  constructor(code: string, message: string) {
    super(message, { code, retryable: false });
  }
}

function header(record: InboundRecord, name: string): string | null {
  const value = record.headers[name];
  return value === undefined ? null : value.toString("utf8");
}

/**
 * Invocation ids are deterministic: from the idempotency key when there is one (so a
 * re-sent request maps to the same invocation), else from the record's position.
 */
export function invocationId(partition: number, offset: bigint, target: string, key: string | null, handler: string, idempotencyKey: string | null): string {
  if (idempotencyKey === null) return `p${partition}-o${offset}`;
  const digest = createHash("sha256").update(JSON.stringify([target, key, handler, idempotencyKey])).digest("base64url");
  return `ik-${digest.slice(0, 32)}`;
}

/**
 * @param replyTopicExists whether a reply topic exists (undefined: not known, taken as yes);
 *   a reply to a missing topic could never commit.
 */
export function parseInvocation(
  record: InboundRecord,
  registry: Registry,
  replyTopicExists: (topic: string) => boolean | undefined = () => undefined,
): ParsedInvocation | RejectedInvocation {
  const replyTopic = header(record, H.replyTo);
  const replyTo: ReplyTarget | null = replyTopic ? { topic: replyTopic, correlationId: header(record, H.correlationId) } : null;
  const fallbackId = `p${record.partition}-o${record.offset}`;
  const reject = (code: string, message: string): RejectedInvocation => ({ error: new BadInvocationError(code, message), replyTo, id: fallbackId });

  const at = `record ${record.partition}@${record.offset}`;
  if (replyTopic !== null) {
    // checked first: no failure reply can be sent to such a topic either
    if (!isValidTopicName(replyTopic)) {
      const error = new BadInvocationError("invalid_reply_to", `${at}: header ${H.replyTo} "${replyTopic.slice(0, 300)}" is not a valid Kafka topic name (1-249 of [A-Za-z0-9._-]).`);
      return { error, replyTo: null, id: fallbackId };
    }
    if (replyTopicExists(replyTopic) === false) {
      const error = new BadInvocationError("unknown_reply_topic", `${at}: reply topic "${replyTopic}" (header ${H.replyTo}) does not exist. Create it before sending (the KVO client creates its own).`);
      return { error, replyTo: null, id: fallbackId };
    }
  }
  if (record.key === null || record.key.length === 0) {
    return reject("missing_key", `${at} has no key. Set the record key to "<Object>/<key>" (or "<Service>" for a service).`);
  }
  const rawKey = record.key.toString("utf8");
  const slash = rawKey.indexOf("/");
  const target = slash < 0 ? rawKey : rawKey.slice(0, slash);
  const objectKey = slash < 0 ? null : rawKey.slice(slash + 1);
  const def = registry.find(target);
  if (!def) {
    return reject("unknown_target", `${at}: no object or service named "${target}" is registered in this app (known: ${registry.names().join(", ") || "none"}).`);
  }
  if (def.kind === "object" && (objectKey === null || objectKey.length === 0)) {
    return reject("missing_key", `${at}: object ${target} needs a key; set the record key to "${target}/<key>".`);
  }
  const handler = header(record, H.handler);
  if (!handler) return reject("missing_handler", `${at}: header ${H.handler} is missing; name the handler of ${target} to call (one of: ${Object.keys(def.handlers).join(", ")}).`);
  if (!Object.hasOwn(def.handlers, handler)) {
    return reject("unknown_handler", `${at}: ${target} has no handler "${handler}" (known: ${Object.keys(def.handlers).join(", ")}).`);
  }
  try {
    decodeJson(record.value, `input of ${target}.${handler}`);
  } catch (e) {
    return reject("invalid_input", `${at}: ${(e as Error).message}. The record value must be JSON (or empty for no input).`);
  }
  const userHeaders: Record<string, string> = {};
  for (const [name, value] of Object.entries(record.headers)) {
    if (!name.startsWith(KVO_HEADER_PREFIX)) userHeaders[name] = value.toString("utf8");
  }
  const idempotencyKey = header(record, H.idempotencyKey) || null;
  const key = def.kind === "object" ? objectKey : null;
  return {
    id: invocationId(record.partition, record.offset, target, key, handler, idempotencyKey),
    target,
    key,
    handler,
    input: record.value && record.value.length > 0 ? record.value : null,
    headers: userHeaders,
    replyTo,
    idempotencyKey,
  };
}

export function isRejected(p: ParsedInvocation | RejectedInvocation): p is RejectedInvocation {
  return "error" in p;
}

/** Reply record: value is the JSON output, or a JSON {code, message} when it failed. */
export function replyRecord(to: ReplyTarget, invocationId: string, value: Buffer | null, failure: FailureRecord | null): OutboundRecord {
  const headers: Record<string, Buffer> = {
    [H.invocationId]: Buffer.from(invocationId),
    [H.status]: Buffer.from(failure ? "failed" : "ok"),
  };
  if (to.correlationId !== null) headers[H.correlationId] = Buffer.from(to.correlationId);
  if (failure) {
    headers[H.errorCode] = Buffer.from(failure.code);
    headers[H.errorMessage] = Buffer.from(failure.message);
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
export function dlqRecord(dlqTopic: string, sourceTopic: string, record: InboundRecord, failure: FailureRecord, omitValue = false): OutboundRecord {
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
