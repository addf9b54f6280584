/**
 * Headers a subscription's relay puts on the invocation records it writes to
 * `<app>.invocations`, saying which source record each came from. They travel into the
 * invocation record's header map (so a replay after a restart sees the same `ctx.request`),
 * and are turned back into `ctx.request.source` there; handlers never see them as headers.
 * Documented in docs/record-format.md.
 */
import type { InvocationSource } from "../../sdk/context.js";

export const SOURCE_HEADERS = {
  subscription: "kvo-subscription",
  topic: "kvo-source-topic",
  partition: "kvo-source-partition",
  offset: "kvo-source-offset",
  timestamp: "kvo-source-timestamp",
  /** The source record's key, base64 (absent when the record had none). */
  key: "kvo-source-key",
} as const;

const NAMES: ReadonlySet<string> = new Set(Object.values(SOURCE_HEADERS));

export function isSourceHeader(name: string): boolean {
  return NAMES.has(name);
}

/** @param constant the subscription's and topic's header values when the caller keeps them allocated */
export function sourceHeaders(source: InvocationSource, constant?: { subscription: Buffer; topic: Buffer }): Record<string, Buffer> {
  const headers: Record<string, Buffer> = {
    [SOURCE_HEADERS.subscription]: constant?.subscription ?? Buffer.from(source.subscription),
    [SOURCE_HEADERS.topic]: constant?.topic ?? Buffer.from(source.topic),
    [SOURCE_HEADERS.partition]: Buffer.from(String(source.partition)),
    [SOURCE_HEADERS.offset]: Buffer.from(String(source.offset)),
    [SOURCE_HEADERS.timestamp]: Buffer.from(String(source.timestamp)),
  };
  if (source.key !== null) headers[SOURCE_HEADERS.key] = Buffer.from(source.key.toString("base64"));
  return headers;
}

/**
 * Splits an invocation record's headers into the handler-visible ones and the source they
 * describe (undefined when the record did not come from a subscription, or names it
 * incompletely: then the headers are simply left out).
 */
export function splitSourceHeaders(headers: Readonly<Record<string, string>>): {
  headers: Readonly<Record<string, string>>;
  source: InvocationSource | undefined;
} {
  let hasSource = false;
  for (const name of Object.keys(headers)) if (NAMES.has(name)) hasSource = true;
  if (!hasSource) return { headers, source: undefined };
  const user: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (!NAMES.has(name)) user[name] = value;
  const subscription = headers[SOURCE_HEADERS.subscription];
  const topic = headers[SOURCE_HEADERS.topic];
  const partition = Number(headers[SOURCE_HEADERS.partition]);
  const offset = Number(headers[SOURCE_HEADERS.offset]);
  const timestamp = Number(headers[SOURCE_HEADERS.timestamp]);
  const key = headers[SOURCE_HEADERS.key];
  if (subscription === undefined || topic === undefined || ![partition, offset, timestamp].every(Number.isSafeInteger)) {
    return { headers: user, source: undefined };
  }
  return {
    headers: user,
    source: { subscription, topic, partition, offset, timestamp, key: key === undefined ? null : Buffer.from(key, "base64") },
  };
}

/**
 * The id of the invocation a subscription made of a source record: deterministic in its
 * coordinates, readable in logs and DLQ headers.
 */
export function sourceInvocationId(source: Pick<InvocationSource, "subscription" | "topic" | "partition" | "offset">): string {
  return `sub:${source.subscription}:${source.topic}:${source.partition}:${source.offset}`;
}
