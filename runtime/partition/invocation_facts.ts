import type { InvocationRequest } from "../../sdk/context.js";
import type { InvocationRecord, ReplyTarget } from "../codec/records.js";
import { splitSourceHeaders } from "../ingress/source_headers.js";
import { withoutCallHeaders } from "../invocation/call_headers.js";
import type { Journal } from "../journal/journal.js";

/** Facts about one invocation the partition processor asks often: small pure functions. */

/** ctx.request of an invocation: kvo-source-* headers (a subscription's) become `source`; kvo-caller* are hidden. */
export function requestOf(record: InvocationRecord): InvocationRequest {
  const { headers, source } = splitSourceHeaders(withoutCallHeaders(record.headers));
  const request: InvocationRequest = { id: record.id, headers, attempt: record.attempt };
  if (record.idempotencyKey) request.idempotencyKey = record.idempotencyKey;
  if (source) request.source = source;
  return request;
}

/**
 * Whether a restored journal waits only for outcomes that arrive without the handler doing
 * anything more: calls (their callees run on their own) and sleeps (the partition's timers).
 * An awakeable or a workflow promise may depend on a step the handler had started but not
 * recorded (e.g. the step that hands the awakeable's id out), so those replay at once.
 */
export function waitsOnlyForCallsAndTimers(journal: Journal): boolean {
  const pending = journal.pending();
  return pending.length > 0 && pending.every(({ entry }) => entry.kind === "call" || entry.kind === "sleep");
}

/** Approximate bytes an invocation record holds in memory (what grows with callers' input). */
export function invocationSize(r: InvocationRecord): number {
  let bytes = 256 + (r.input?.length ?? 0) + r.id.length + (r.key?.length ?? 0);
  for (const name in r.headers) bytes += name.length + r.headers[name]!.length;
  for (const to of r.replyTo) bytes += to.topic.length + (to.correlationId?.length ?? 0);
  return bytes;
}

/**
 * An upper bound of the encoded (Avro) size of an invocation record: strings counted at 3
 * bytes per UTF-16 unit (UTF-8's worst case for them), bytes as they are, and room for the
 * varints and fixed fields. Used to skip encoding records that are far from the size limit.
 */
export function invocationRecordEstimate(r: InvocationRecord): number {
  let bytes = 128 + (r.input?.length ?? 0);
  bytes += 3 * (r.id.length + (r.key?.length ?? 0) + r.target.length + r.handler.length + (r.idempotencyKey?.length ?? 0));
  for (const name in r.headers) bytes += 10 + 3 * (name.length + r.headers[name]!.length);
  for (const to of r.replyTo) bytes += 20 + 3 * (to.topic.length + (to.correlationId?.length ?? 0));
  return bytes;
}

export function sameTarget(a: ReplyTarget, b: ReplyTarget): boolean {
  return a.topic === b.topic && a.correlationId === b.correlationId;
}

/** "Target/key.handler (invocation id)", for messages. */
export function describe(r: InvocationRecord): string {
  return `${r.target}${r.key === null ? "" : `/${r.key}`}.${r.handler} (invocation ${r.id})`;
}
