import type { ReplyTarget } from "../codec/records.js";
import type { InboundRecord } from "../log/log.js";
import { replyTopicProblem } from "./envelope.js";
import { H } from "./headers.js";
import type { ReplyTopicStatus } from "./reply_topics.js";

/**
 * A record on `<app>.invocations` with a `kvo-cancel: <invocationId>` header asks to cancel
 * that invocation instead of starting one (docs/record-format.md). Its key only routes it:
 * keyed like the invocation's own record, it lands on the partition that runs it.
 */
export interface CancelRequest {
  invocationId: string;
  /** Where to answer, when the record asks for an answer and its reply topic can take one. */
  replyTo: ReplyTarget | null;
  /** Why a requested reply cannot be sent (invalid, reserved or missing reply topic), for the log. */
  replyProblem: string | null;
}

/**
 * The cancel request a record carries, or null when it has no `kvo-cancel` header (an
 * ordinary invocation). An empty header is still a cancel request, naming no invocation: it
 * must never start one.
 *
 * @param replyTopicStatus as for invocations: no reply is sent to a topic that cannot take
 *   one (the cancel itself still happens).
 */
export function parseCancelRequest(
  record: InboundRecord,
  replyTopicStatus: (topic: string) => ReplyTopicStatus = () => undefined,
): CancelRequest | null {
  const raw = record.headers[H.cancel];
  if (raw === undefined) return null;
  const invocationId = raw.toString("utf8").trim();
  const topic = record.headers[H.replyTo]?.toString("utf8") || null;
  if (topic === null) return { invocationId, replyTo: null, replyProblem: null };
  const problem = replyTopicProblem(record, replyTopicStatus);
  if (problem) return { invocationId, replyTo: null, replyProblem: problem.message };
  return { invocationId, replyTo: { topic, correlationId: record.headers[H.correlationId]?.toString("utf8") ?? null }, replyProblem: null };
}
