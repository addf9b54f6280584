/**
 * The header a subscription's relay puts on the invocation records it writes to
 * `<app>.invocations`, saying which source record each came from. It travels into the
 * invocation record's header map (so a replay after a restart sees the same `ctx.request`),
 * and is turned back into `ctx.request.source` there; handlers never see it as a header.
 * Documented in docs/record-format.md.
 *
 * One header, `kvo-source`, whose value is the JSON array
 * `[subscription, topic, partition, offset, timestamp, keyBase64 | null]`: every header costs
 * on each hop of every record (produced by the relay, consumed and parsed by the processor,
 * stored in the invocation's journal record), so the source travels in one rather than six.
 * Earlier versions wrote six headers (`kvo-subscription`, `kvo-source-topic`, ...: LEGACY
 * below); invocation records and journals written by them are still read.
 */
import type { InvocationSource } from "../../sdk/context.js";

/** The compact header: the whole source in one JSON array (see the file comment). */
export const SOURCE_HEADER = "kvo-source";

/**
 * The headers of earlier versions, one per field: read, no longer written. `subscription` also
 * names the header of a subscription's DLQ copies (its only use when writing).
 */
export const SOURCE_HEADERS = {
  subscription: "kvo-subscription",
  topic: "kvo-source-topic",
  partition: "kvo-source-partition",
  offset: "kvo-source-offset",
  timestamp: "kvo-source-timestamp",
  /** The source record's key, base64 (absent when the record had none). */
  key: "kvo-source-key",
} as const;

const LEGACY_NAMES: ReadonlySet<string> = new Set(Object.values(SOURCE_HEADERS));

export function isSourceHeader(name: string): boolean {
  return name === SOURCE_HEADER || LEGACY_NAMES.has(name);
}

/**
 * Writes the `kvo-source` values of one subscription and topic: the constant start of the
 * array is built once, so a record costs one short string and one Buffer.
 */
export class SourceHeaderWriter {
  /** `["<subscription>","<topic>",` */
  private readonly prefix: string;

  constructor(subscription: string, topic: string) {
    this.prefix = `${JSON.stringify([subscription, topic]).slice(0, -1)},`;
  }

  value(partition: number, offset: number, timestamp: number, key: Buffer | null): Buffer {
    // base64 needs no JSON escaping; partition, offset and timestamp are integers
    const keyJson = key === null ? "null" : `"${key.toString("base64")}"`;
    return Buffer.from(`${this.prefix}${partition},${offset},${timestamp},${keyJson}]`);
  }
}

/** The source a `kvo-source` value names; undefined when it is malformed. */
function parseCompact(text: string): InvocationSource | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed) || parsed.length !== 6) return undefined;
  const fields = parsed as unknown[];
  const subscription = fields[0];
  const topic = fields[1];
  const partition = fields[2];
  const offset = fields[3];
  const timestamp = fields[4];
  const key = fields[5];
  if (typeof subscription !== "string" || typeof topic !== "string") return undefined;
  if (!Number.isSafeInteger(partition) || !Number.isSafeInteger(offset) || !Number.isSafeInteger(timestamp)) return undefined;
  if (key !== null && typeof key !== "string") return undefined;
  return {
    subscription,
    topic,
    partition: partition as number,
    offset: offset as number,
    timestamp: timestamp as number,
    key: key === null ? null : Buffer.from(key, "base64"),
  };
}

/** The source the legacy headers name; undefined when they name it incompletely. */
function parseLegacy(headers: Readonly<Record<string, string>>): InvocationSource | undefined {
  const subscription = headers[SOURCE_HEADERS.subscription];
  const topic = headers[SOURCE_HEADERS.topic];
  const partition = Number(headers[SOURCE_HEADERS.partition]);
  const offset = Number(headers[SOURCE_HEADERS.offset]);
  const timestamp = Number(headers[SOURCE_HEADERS.timestamp]);
  const key = headers[SOURCE_HEADERS.key];
  if (subscription === undefined || topic === undefined || ![partition, offset, timestamp].every(Number.isSafeInteger)) return undefined;
  return { subscription, topic, partition, offset, timestamp, key: key === undefined ? null : Buffer.from(key, "base64") };
}

/**
 * Splits an invocation record's headers into the handler-visible ones and the source they
 * describe (undefined when the record did not come from a subscription, or names it
 * incompletely or malformed: then the source headers are simply left out). `kvo-source` wins
 * over the legacy headers when a record carries both.
 */
export function splitSourceHeaders(headers: Readonly<Record<string, string>>): {
  headers: Readonly<Record<string, string>>;
  source: InvocationSource | undefined;
} {
  let hasSource = false;
  for (const name in headers) {
    if (isSourceHeader(name) && Object.hasOwn(headers, name)) {
      hasSource = true;
      break;
    }
  }
  if (!hasSource) return { headers, source: undefined };
  const user: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (!isSourceHeader(name)) user[name] = value;
  const compact = headers[SOURCE_HEADER];
  const source = compact !== undefined ? parseCompact(compact) : parseLegacy(headers);
  return { headers: user, source };
}

/**
 * The id of the invocation a subscription made of a source record: deterministic in its
 * coordinates, readable in logs and DLQ headers.
 */
export function sourceInvocationId(source: Pick<InvocationSource, "subscription" | "topic" | "partition" | "offset">): string {
  return `sub:${source.subscription}:${source.topic}:${source.partition}:${source.offset}`;
}
