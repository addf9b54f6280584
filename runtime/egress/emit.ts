/**
 * Egress: records a handler writes to other topics with ctx.emit. They are kept in the
 * attempt's overlay and written by the processor in the transaction that completes the
 * invocation, with its state and outcome, only when it succeeds (docs/design.md, "Egress").
 * This file turns what a handler passed into a record and refuses, at the ctx.emit call,
 * everything that would fail that transaction later (and, retried, stall the process).
 */
import type { EmitFormat, EmitRecord } from "../../sdk/context.js";
import { TerminalError } from "../../sdk/errors.js";
import { recordBytes } from "../commit/batch.js";
import { isValidTopicName } from "../invocation/reply_topics.js";
import type { OutboundRecord } from "../log/log.js";
import { RecordTooLargeError } from "../partition/limits.js";
import { isAvroFormat, markAvroPending, prepareAvroEmit } from "./avro_emit.js";

/** Most records one invocation may emit: they all join one transaction. */
export const MAX_EMITS_PER_INVOCATION = 1_000;

/** Most bytes one invocation may emit in total (key, value, headers of all its records). */
export const DEFAULT_MAX_EMIT_BYTES_PER_INVOCATION = 8 * 1024 * 1024;

/** What the processor tells a context about where records may go and how large they may be. */
export interface EmitPolicy {
  /** Whether the runtime owns the topic (invocations, changelog, DLQ); `__*` topics are always reserved. */
  isReserved(topic: string): boolean;
  /** Largest record (key + value + headers), maxRecordBytes. */
  maxRecordBytes: number;
  /** Largest total of all records of one invocation. */
  maxTotalBytes: number;
}

/**
 * Encodes one ctx.emit call into the record the processor will write, or throws a
 * TerminalError saying what is wrong: `invalid_emit_topic`, `reserved_emit_topic`,
 * `invalid_emit` (a key, value or header of the wrong type for the format, a value that does
 * not match its Avro schema) or `record_too_large`. `where` names the invocation for the
 * message. An Avro value is a placeholder of its final size until encodeAvroEmits() runs.
 */
export function encodeEmit(
  topic: unknown,
  record: EmitRecord | undefined,
  format: EmitFormat | undefined,
  policy: EmitPolicy,
  where: string,
): OutboundRecord {
  const call = `${where}: ctx.emit(${JSON.stringify(topic)?.slice(0, 300) ?? String(topic)})`;
  if (typeof topic !== "string" || !isValidTopicName(topic)) {
    throw new TerminalError(
      `${call}: not a valid Kafka topic name (1-249 characters of [A-Za-z0-9._-], not "." or ".."). Pass the name of an existing topic.`,
      { code: "invalid_emit_topic" },
    );
  }
  if (topic.startsWith("__") || policy.isReserved(topic)) {
    throw new TerminalError(
      `${call}: "${topic}" is one of the app's own topics (invocations, changelog, DLQ) or a Kafka internal topic; handlers may not write there. ` +
        `Emit to a topic of your own.`,
      { code: "reserved_emit_topic" },
    );
  }
  if (record === null || typeof record !== "object") {
    throw new TerminalError(
      `${call}: the record must be an object { key?, value, headers? }, got ${record === null ? "null" : typeof record}.`,
      { code: "invalid_emit" },
    );
  }
  const key = encodeKey(record.key, call);
  // Avro: checked and encoded now, framed with the registry id when the invocation completes.
  const avro = isAvroFormat(format) ? prepareAvroEmit(topic, record.value, format, policy.maxRecordBytes, call) : null;
  const out: OutboundRecord = { topic, key, value: avro ? avro.placeholder : encodeValue(record.value, format ?? "json", call) };
  if (record.headers !== undefined) out.headers = encodeHeaders(record.headers, call);
  const bytes = recordBytes(out);
  if (bytes > policy.maxRecordBytes)
    throw new RecordTooLargeError(`${call}: the record (key, value and headers)`, bytes, policy.maxRecordBytes);
  if (avro?.pending) markAvroPending(out, avro.pending);
  return out;
}

/**
 * The topics among `records` whose existence `status` does not know: they must be looked up
 * before the invocation completes (a record for a missing topic fails its transaction).
 */
export function emitTopicsToLookUp(records: readonly OutboundRecord[], status: (topic: string) => string | undefined): string[] {
  const out = new Set<string>();
  for (const r of records) if (status(r.topic) === undefined) out.add(r.topic);
  return [...out];
}

/** The refusal for an emit to a topic that does not exist, found when the invocation completes. */
export function unknownEmitTopicError(topic: string, where: string): TerminalError {
  return new TerminalError(
    `${where}: ctx.emit("${topic}"): topic "${topic}" does not exist, so the invocation failed and none of its records were written. ` +
      `Create the topic before emitting to it (KVO does not create output topics).`,
    { code: "unknown_emit_topic" },
  );
}

function encodeKey(key: EmitRecord["key"], call: string): Buffer | null {
  if (key === undefined || key === null) return null;
  if (typeof key === "string") return Buffer.from(key, "utf8");
  if (key instanceof Uint8Array) return Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  throw new TerminalError(`${call}: the key must be a string, a Buffer or null, got ${typeof key}.`, { code: "invalid_emit" });
}

function encodeValue(value: unknown, format: EmitFormat, call: string): Buffer | null {
  switch (format) {
    case "json": {
      if (value === undefined) {
        throw new TerminalError(
          `${call}: the value is undefined. Pass null for a JSON null, or use { format: "bytes" } with value null for a tombstone.`,
          { code: "invalid_emit" },
        );
      }
      let text: string | undefined;
      try {
        text = JSON.stringify(value);
      } catch (cause) {
        throw new TerminalError(
          `${call}: the value is not JSON-serializable (${(cause as Error).message}). Pass plain data, or use { format: "string" | "bytes" }.`,
          { code: "invalid_emit", cause },
        );
      }
      if (text === undefined)
        throw new TerminalError(
          `${call}: a ${typeof value} value is not JSON-serializable. Pass plain data, or use { format: "string" | "bytes" }.`,
          { code: "invalid_emit" },
        );
      return Buffer.from(text, "utf8");
    }
    case "string":
      if (value === null) return null;
      if (typeof value !== "string")
        throw new TerminalError(
          `${call}: format "string" needs a string value (or null for a tombstone), got ${typeof value}. Use the default format "json" for other values.`,
          { code: "invalid_emit" },
        );
      return Buffer.from(value, "utf8");
    case "bytes":
      if (value === null) return null;
      if (!(value instanceof Uint8Array))
        throw new TerminalError(
          `${call}: format "bytes" needs a Buffer or Uint8Array value (or null for a tombstone), got ${typeof value}. Use the default format "json" for other values.`,
          { code: "invalid_emit" },
        );
      return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    default:
      throw new TerminalError(
        `${call}: unknown format ${typeof format === "function" ? "(a function: call it, avro({ schema }))" : JSON.stringify(format)}; ` +
          `use "json" (default), "string", "bytes" or avro({ schema }).`,
        { code: "invalid_emit" },
      );
  }
}

function encodeHeaders(headers: unknown, call: string): Record<string, Buffer> {
  if (headers === null || typeof headers !== "object")
    throw new TerminalError(`${call}: headers must be an object of string values, got ${headers === null ? "null" : typeof headers}.`, {
      code: "invalid_emit",
    });
  const out: Record<string, Buffer> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value !== "string")
      throw new TerminalError(
        `${call}: header "${name}" must be a string, got ${typeof value}. Encode other values yourself (String(), JSON.stringify()).`,
        { code: "invalid_emit" },
      );
    out[name] = Buffer.from(value, "utf8");
  }
  return out;
}
