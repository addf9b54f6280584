/**
 * Records of calls between handlers (docs/record-format.md, "Calls between handlers"):
 *  - the request: an ordinary invocation record plus `kvo-caller*` headers naming the waiting
 *    invocation, its partition and journal entry, and `kvo-call-path`, the object keys the
 *    chain holds exclusively (for call-cycle detection);
 *  - the completion: the callee's outcome written to the caller's partition of
 *    `<app>.invocations` with `kvo-complete`, in the transaction that completes the callee.
 * The caller headers travel in the callee's invocation record header map (so a callee
 * restored elsewhere still knows where to answer) and are hidden from `ctx.request.headers`.
 */
import { createHash } from "node:crypto";
import type { FailureRecord } from "../codec/records.js";
import type { InboundRecord, OutboundRecord } from "../log/log.js";
import { H } from "./headers.js";

export const CALL_HEADERS = {
  caller: "kvo-caller",
  callerPartition: "kvo-caller-partition",
  callerEntry: "kvo-caller-entry",
  callPath: "kvo-call-path",
  complete: "kvo-complete",
  entry: "kvo-entry",
  callee: "kvo-callee",
} as const;

const REQUEST_HEADERS: ReadonlySet<string> = new Set([
  CALL_HEADERS.caller,
  CALL_HEADERS.callerPartition,
  CALL_HEADERS.callerEntry,
  CALL_HEADERS.callPath,
]);

/** Longest call chain carried (objects held): a deeper chain is refused at the call. */
export const MAX_CALL_PATH = 64;

export function isCallRequestHeader(name: string): boolean {
  return REQUEST_HEADERS.has(name);
}

/** Who waits for an invocation's outcome, from its header map; null for invocations nobody called. */
export interface Caller {
  invocationId: string;
  partition: number;
  entry: number;
  /** Object keys held exclusively along the chain, outermost first. */
  path: string[];
}

export function callerOf(headers: Readonly<Record<string, string>>): Caller | null {
  const invocationId = headers[CALL_HEADERS.caller];
  if (invocationId === undefined) return null;
  const partition = Number(headers[CALL_HEADERS.callerPartition]);
  const entry = Number(headers[CALL_HEADERS.callerEntry]);
  if (invocationId === "" || !Number.isSafeInteger(partition) || partition < 0 || !Number.isSafeInteger(entry) || entry < 0) return null;
  return { invocationId, partition, entry, path: parsePath(headers[CALL_HEADERS.callPath]) };
}

function parsePath(raw: string | undefined): string[] {
  if (raw === undefined) return [];
  try {
    const parsed: unknown = JSON.parse(raw);
    return Array.isArray(parsed) ? parsed.filter((p): p is string => typeof p === "string").slice(0, MAX_CALL_PATH) : [];
  } catch {
    return [];
  }
}

/** The handler-visible headers: without the caller headers. */
export function withoutCallHeaders(headers: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  let any = false;
  for (const name of Object.keys(headers)) if (REQUEST_HEADERS.has(name)) any = true;
  if (!any) return headers;
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (!REQUEST_HEADERS.has(name)) out[name] = value;
  return out;
}

/** The id of the invocation a call makes: deterministic in the caller and its journal entry. */
export function calleeInvocationId(callerId: string, entry: number): string {
  return `c-${createHash("sha256").update(`${callerId}:${entry}`).digest("base64url").slice(0, 32)}`;
}

export function callRequestRecord(o: {
  topic: string;
  recordKey: string;
  handler: string;
  input: Buffer | null;
  caller: Omit<Caller, "path">;
  path: readonly string[];
}): OutboundRecord {
  return {
    topic: o.topic,
    key: Buffer.from(o.recordKey),
    value: o.input,
    headers: {
      [H.handler]: Buffer.from(o.handler),
      [CALL_HEADERS.caller]: Buffer.from(o.caller.invocationId),
      [CALL_HEADERS.callerPartition]: Buffer.from(String(o.caller.partition)),
      [CALL_HEADERS.callerEntry]: Buffer.from(String(o.caller.entry)),
      [CALL_HEADERS.callPath]: Buffer.from(JSON.stringify(o.path)),
    },
  };
}

/** The callee's outcome, to the caller's partition. */
export function callCompletionRecord(
  topic: string,
  caller: Caller,
  calleeId: string,
  output: Buffer | null,
  failure: FailureRecord | null,
): OutboundRecord {
  const headers: Record<string, Buffer> = {
    [CALL_HEADERS.complete]: Buffer.from(caller.invocationId),
    [CALL_HEADERS.entry]: Buffer.from(String(caller.entry)),
    [CALL_HEADERS.callee]: Buffer.from(calleeId),
    [H.status]: Buffer.from(failure ? "failed" : "ok"),
  };
  if (failure) {
    headers[H.errorCode] = Buffer.from(failure.code);
    headers[H.errorMessage] = Buffer.from(failure.message);
  }
  return { topic, partition: caller.partition, key: Buffer.from(caller.invocationId), value: failure ? null : output, headers };
}

export interface CallCompletion {
  callerId: string;
  entry: number;
  calleeId: string;
  value: Buffer | null;
  failure: FailureRecord | null;
}

/** A `kvo-complete` record: the completion, a problem (malformed), or null when the record is not one. */
export function parseCallCompletion(record: InboundRecord): CallCompletion | { problem: string } | null {
  const callerId = record.headers[CALL_HEADERS.complete]?.toString("utf8");
  if (callerId === undefined) return null;
  const entry = Number(record.headers[CALL_HEADERS.entry]?.toString("utf8"));
  const calleeId = record.headers[CALL_HEADERS.callee]?.toString("utf8") ?? "";
  if (callerId === "" || !Number.isSafeInteger(entry) || entry < 0 || calleeId === "") {
    return { problem: `a ${CALL_HEADERS.complete} record needs ${CALL_HEADERS.entry} (a journal index) and ${CALL_HEADERS.callee}` };
  }
  const failed = record.headers[H.status]?.toString("utf8") === "failed";
  const failure = failed
    ? {
        code: record.headers[H.errorCode]?.toString("utf8") || "unknown",
        message: record.headers[H.errorMessage]?.toString("utf8") ?? "",
      }
    : null;
  return { callerId, entry, calleeId, value: failed ? null : record.value && record.value.length > 0 ? record.value : null, failure };
}
