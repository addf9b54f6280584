/**
 * The record that completes an awakeable (docs/record-format.md, "Awakeables"): any producer
 * may write it to `<app>.invocations`, on the partition its id names.
 */
import type { FailureRecord } from "../codec/records.js";
import type { InboundRecord, OutboundRecord } from "../log/log.js";
import { parseAwakeableId } from "./awakeable_id.js";
import { H } from "./headers.js";

export const AWAKEABLE_HEADER = "kvo-awakeable";

export interface AwakeableCompletion {
  id: string;
  value: Buffer | null;
  failure: FailureRecord | null;
}

/** The record completing awakeable `id`, for `topic` (the invocations topic). Throws when `id` is not an awakeable id. */
export function awakeableCompletionRecord(topic: string, completion: AwakeableCompletion): OutboundRecord {
  const parts = parseAwakeableId(completion.id);
  if (!parts) throw new RangeError(`not an awakeable id: ${completion.id}`);
  const headers: Record<string, Buffer> = { [AWAKEABLE_HEADER]: Buffer.from(completion.id) };
  if (completion.failure) {
    headers[H.status] = Buffer.from("failed");
    headers[H.errorCode] = Buffer.from(completion.failure.code);
    headers[H.errorMessage] = Buffer.from(completion.failure.message);
  }
  return {
    topic,
    partition: parts.partition,
    key: Buffer.from(completion.id),
    value: completion.failure ? null : completion.value,
    headers,
  };
}

/** The awakeable id of a completion record, or null when the record is not one. */
export function awakeableHeader(record: InboundRecord): string | null {
  const id = record.headers[AWAKEABLE_HEADER];
  return id === undefined ? null : id.toString("utf8");
}
