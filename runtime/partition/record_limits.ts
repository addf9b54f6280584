/**
 * Every record the runtime writes must fit Kafka's record limit: one refused record fails the
 * whole transaction, every retry of it, and so every partition of the process. Records whose
 * size callers influence are therefore bounded where they are made: error messages are
 * capped, DLQ copies drop what does not fit, and the rest is checked against maxRecordBytes
 * before it joins a batch (see limits.ts and processor.ts).
 */
import type { KvoError } from "../../sdk/errors.js";
import { recordBytes } from "../commit/batch.js";
import type { FailureRecord } from "../codec/records.js";
import { dlqRecord } from "../invocation/envelope.js";
import { H } from "../invocation/headers.js";
import type { InboundRecord, OutboundRecord } from "../log/log.js";

/** Longest error message kept in outcomes, replies, invocation records and DLQ headers. */
export const MAX_ERROR_MESSAGE_CHARS = 2_000;

/**
 * Room kept under maxRecordBytes for what wraps a handler output in a reply or an outcome
 * record (ids, correlation id, headers): outputs may use maxRecordBytes minus this.
 */
export const RECORD_ENVELOPE_BYTES = 4_096;

export function capMessage(message: string): string {
  if (message.length <= MAX_ERROR_MESSAGE_CHARS) return message;
  return `${message.slice(0, MAX_ERROR_MESSAGE_CHARS)}… (${message.length - MAX_ERROR_MESSAGE_CHARS} more characters cut)`;
}

/** The failure recorded for an error: its code and a capped message. */
export function failureOf(error: Pick<KvoError, "code" | "message">): FailureRecord {
  return { code: error.code, message: capMessage(error.message) };
}

/** The headers a DLQ copy keeps when the original's own headers do not fit. */
const REASON_HEADERS = [H.errorCode, H.errorMessage, H.dlqSourceTopic, H.dlqSourcePartition, H.dlqSourceOffset, H.dlqValueOmittedBytes];

export function fits(record: OutboundRecord, maxRecordBytes: number): boolean {
  return recordBytes(record) <= maxRecordBytes;
}

/**
 * A DLQ copy of a rejected record that fits the limit: the whole record if it fits, else
 * without its value (`kvo-dlq-value-omitted-bytes`), else without its own headers too (only
 * the reason and source headers stay). The source coordinates always point at the original.
 */
export function fittedDlqRecord(
  dlqTopic: string,
  sourceTopic: string,
  record: InboundRecord,
  failure: FailureRecord,
  maxRecordBytes: number,
): OutboundRecord {
  const capped = { code: failure.code, message: capMessage(failure.message) };
  const whole = dlqRecord(dlqTopic, sourceTopic, record, capped);
  if (fits(whole, maxRecordBytes)) return whole;
  const withoutValue = dlqRecord(dlqTopic, sourceTopic, record, capped, true);
  if (fits(withoutValue, maxRecordBytes)) return withoutValue;
  const headers: Record<string, Buffer> = {};
  for (const name of REASON_HEADERS) {
    const value = withoutValue.headers?.[name];
    if (value) headers[name] = value;
  }
  headers[H.dlqHeadersOmitted] = Buffer.from("true");
  const key = record.key && record.key.length > maxRecordBytes / 2 ? null : record.key;
  return { ...withoutValue, key, headers };
}
