/**
 * High-water offsets of subscriptions: per (subscription, source topic, source partition), the
 * highest source offset already turned into an invocation (or dead-lettered, or filtered out).
 * Written to the compacted `<app>.source-offsets` topic in the same transaction as the
 * invocation records and the source offsets, so it is never behind what was relayed. A source
 * range read again (the subscription's group offsets reset, a topic re-read by a restore) is
 * skipped below it: nothing runs twice, with one record of memory per source partition.
 */
import { codecFromFiles } from "../codec/avro.js";
import type { InboundRecord } from "../log/log.js";

interface SourceOffsetRecord {
  subscription: string;
  topic: string;
  partition: number;
  offset: number;
}

const codec = codecFromFiles<SourceOffsetRecord>("source-offset", { 1: "source-offset.v1.avsc" });

/** The partition of `<app>.source-offsets` (it has one). */
export const SOURCE_OFFSETS_PARTITION = 0;

export function highWaterKey(subscription: string, topic: string, partition: number): string {
  return JSON.stringify(["src", subscription, topic, String(partition)]);
}

export function encodeHighWater(subscription: string, topic: string, partition: number, offset: bigint): Buffer {
  return codec.encode({ subscription, topic, partition, offset: Number(offset) });
}

/**
 * Collects the high-water offsets of one subscription and topic from the records of
 * `<app>.source-offsets` (fed in log order: the last record of a key wins). Records of other
 * subscriptions are ignored; undecodable ones are reported through `onBadRecord` and skipped
 * (the offset falls back to what the group committed).
 */
export class HighWaterReader {
  readonly offsets = new Map<number, bigint>();

  constructor(
    private readonly subscription: string,
    private readonly topic: string,
    private readonly onBadRecord: (record: InboundRecord, error: Error) => void,
  ) {}

  apply(record: InboundRecord): void {
    const key = record.key?.toString("utf8") ?? "";
    if (!key.startsWith(`["src",${JSON.stringify(this.subscription)},`)) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(key);
    } catch {
      return;
    }
    if (!Array.isArray(parsed) || parsed[1] !== this.subscription || parsed[2] !== this.topic) return;
    const partition = Number(parsed[3]);
    if (!Number.isSafeInteger(partition)) return;
    if (record.value === null) {
      this.offsets.delete(partition);
      return;
    }
    try {
      this.offsets.set(partition, BigInt(codec.decode(record.value).offset));
    } catch (error) {
      this.onBadRecord(record, error as Error);
    }
  }
}
