/**
 * What one source record becomes: an invocation request (target key + JSON input), nothing
 * (filtered out), or a dead letter with a reason. Pure: no Kafka here. Decoding is
 * synchronous except for Avro (the registry may have to be asked for a writer schema), so the
 * relay only waits where it must.
 *
 * Throws only retryable errors (the Schema Registry is unreachable): the same record is tried
 * again later and never dead-lettered for it.
 */
import { KvoError } from "../../sdk/errors.js";
import { isErrorCode, type ErrorCode } from "../../sdk/error_codes.js";
import type { AvroPayloads } from "../payload/avro_port.js";
import { isJsonAsIs, toJsonSafe } from "./json_safe.js";
import type { ResolvedSubscription, SourceRecord } from "./subscription.js";

export type RouteDecision =
  { kind: "invoke"; key: string | null; input: Buffer | null } | { kind: "filtered" } | { kind: "dead"; code: ErrorCode; message: string };

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function utf8(bytes: Buffer): string | null {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return null;
  }
}

function where(sub: ResolvedSubscription, record: SourceRecord): string {
  return `subscription ${sub.name}: record ${record.topic}[${record.partition}]@${record.offset}`;
}

/** Thrown inside this file for a record that can never become an invocation; never escapes it. */
class DeadLetter extends Error {
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
  }
  readonly code: ErrorCode;
}

/** Decodes the value: the value itself, or a Promise of it (Avro). Throws DeadLetter for a bad one. */
function decodeValue(sub: ResolvedSubscription, record: SourceRecord, avroPayloads: AvroPayloads | undefined): unknown {
  const bytes = record.value;
  const format = sub.value;
  if (format === "json") {
    if (bytes === null || bytes.length === 0) return null;
    const text = utf8(bytes);
    try {
      if (text === null) throw new Error("the value is not UTF-8 text");
      return JSON.parse(text) as unknown;
    } catch (e) {
      throw new DeadLetter(
        "invalid_input",
        `${where(sub, record)}: the value is not JSON (${(e as Error).message}); the subscription reads "json"`,
      );
    }
  }
  if (format === "string") {
    if (bytes === null || bytes.length === 0) return null;
    const text = utf8(bytes);
    if (text === null)
      throw new DeadLetter("invalid_input", `${where(sub, record)}: the value is not UTF-8 text; the subscription reads "string"`);
    return text;
  }
  if (format === "bytes") return bytes === null || bytes.length === 0 ? null : bytes.toString("base64");
  if (format.kind === "custom") {
    try {
      const decoded = format.decode(bytes, record);
      return decoded instanceof Promise ? decoded.catch((e: unknown) => decoderThrew(sub, record, e)) : decoded;
    } catch (e) {
      return decoderThrew(sub, record, e);
    }
  }
  // checked when the runtime starts (a subscription reading Avro needs the registry port)
  if (!avroPayloads) throw new Error(`${where(sub, record)}: the subscription reads Avro but the runtime has no Schema Registry`);
  if (bytes === null) throw new DeadLetter("not_avro", `${where(sub, record)}: the record has no value; the subscription reads Avro`);
  // the writer schema is almost always cached: no promise (and no closure) per record then
  try {
    const cached = avroPayloads.decodeIfCached?.(bytes, format.schema);
    if (cached !== undefined) return cached.value;
  } catch (e) {
    return undecodableAvro(sub, record, e);
  }
  return avroPayloads.decode(bytes, format.schema).then(
    (decoded) => decoded.value,
    (e: unknown) => undecodableAvro(sub, record, e),
  );
}

/** A custom decoder threw or rejected: the record is dead-lettered. */
function decoderThrew(sub: ResolvedSubscription, record: SourceRecord, e: unknown): never {
  throw new DeadLetter("decode_failed", `${where(sub, record)}: the subscription's decoder threw: ${(e as Error)?.message ?? String(e)}`);
}

/** An Avro decode failed: retryable errors (registry unreachable) propagate, the others dead-letter the record. */
function undecodableAvro(sub: ResolvedSubscription, record: SourceRecord, e: unknown): never {
  if (e instanceof KvoError && e.retryable) throw e;
  const code = e instanceof KvoError && isErrorCode(e.code) ? e.code : "avro_decode_failed";
  throw new DeadLetter(code, `${where(sub, record)}: ${(e as Error)?.message ?? String(e)}`);
}

function fieldOf(value: unknown, path: string): unknown {
  let current = value;
  for (const part of path.split(".")) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

function keyText(raw: unknown): string | null {
  if (typeof raw === "string") return raw.length > 0 ? raw : null;
  if (typeof raw === "number" && Number.isFinite(raw)) return String(raw);
  if (typeof raw === "bigint") return raw.toString();
  return null;
}

/** The object (or service routing) key of a record, null when it has none. Throws DeadLetter. */
function keyOf(sub: ResolvedSubscription, record: SourceRecord, value: unknown): string | null {
  const spec = sub.key;
  if (spec === "record-key") {
    if (record.key === null || record.key.length === 0) return null;
    const text = utf8(record.key);
    if (text === null)
      throw new DeadLetter("invalid_key", `${where(sub, record)}: the record key is not UTF-8 text; use key: { field } or a key function`);
    return text;
  }
  if (typeof spec === "function") {
    try {
      return keyText(spec(record, value));
    } catch (e) {
      throw new DeadLetter(
        "invalid_key",
        `${where(sub, record)}: the subscription's key function threw: ${(e as Error)?.message ?? String(e)}`,
      );
    }
  }
  if ("field" in spec) {
    const raw = fieldOf(value, spec.field);
    if (raw !== null && typeof raw === "object")
      throw new DeadLetter(
        "invalid_key",
        `${where(sub, record)}: field "${spec.field}" is an object; the key must be a string or a number`,
      );
    return keyText(raw);
  }
  const header = record.headers[spec.header];
  if (header === undefined || header.length === 0) return null;
  const text = utf8(header);
  if (text === null) throw new DeadLetter("invalid_key", `${where(sub, record)}: header ${spec.header} is not UTF-8 text`);
  return text;
}

function describeKey(sub: ResolvedSubscription): string {
  const spec = sub.key;
  if (spec === "record-key") return "the record key";
  if (typeof spec === "function") return "the key function";
  return "field" in spec ? `field "${spec.field}" of the value` : `header "${spec.header}"`;
}

function finish(sub: ResolvedSubscription, record: SourceRecord, value: unknown): RouteDecision {
  // the filter first: a topic of mixed record kinds filters out the ones that have no key
  if (sub.filter) {
    let keep: boolean;
    try {
      keep = sub.filter(value, record);
    } catch (e) {
      return {
        kind: "dead",
        code: "filter_failed",
        message: `${where(sub, record)}: the subscription's filter threw: ${String((e as Error)?.message ?? e)}`,
      };
    }
    if (!keep) return { kind: "filtered" };
  }
  const key = keyOf(sub, record, value);
  if (key === null && sub.target.kind === "object") {
    return {
      kind: "dead",
      code: "missing_key",
      message: `${where(sub, record)}: no object key (${describeKey(sub)} is empty or missing); ${sub.target.name}.${sub.handler} is an object handler and needs one`,
    };
  }
  let input: Buffer | null;
  // JSON read as JSON: the bytes are the input already (they parsed; the processor decodes them again)
  if (sub.value === "json") return { kind: "invoke", key, input: value === null ? null : record.value };
  try {
    // most decoded values need no conversion: checking is cheaper than toJsonSafe's copy
    input = value === null || value === undefined ? null : Buffer.from(JSON.stringify(isJsonAsIs(value) ? value : toJsonSafe(value)));
  } catch (e) {
    return {
      kind: "dead",
      code: "decode_failed",
      message: `${where(sub, record)}: the decoded value is not JSON-serialisable: ${(e as Error).message}`,
    };
  }
  return { kind: "invoke", key, input };
}

function caught(error: unknown): RouteDecision {
  if (error instanceof DeadLetter) return { kind: "dead", code: error.code, message: error.message };
  throw error;
}

/** Routes one record; a Promise only when decoding had to wait (Avro). Rejects/throws only retryable errors. */
export function routeRecord(
  sub: ResolvedSubscription,
  record: SourceRecord,
  avroPayloads: AvroPayloads | undefined,
): RouteDecision | Promise<RouteDecision> {
  let value: unknown;
  try {
    value = decodeValue(sub, record, avroPayloads);
  } catch (error) {
    return caught(error);
  }
  if (value instanceof Promise) {
    return value.then(
      (decoded: unknown) => {
        try {
          return finish(sub, record, decoded);
        } catch (error) {
          return caught(error);
        }
      },
      (error: unknown) => caught(error),
    );
  }
  try {
    return finish(sub, record, value);
  } catch (error) {
    return caught(error);
  }
}
