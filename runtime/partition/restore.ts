import { KvoError, toKvoError } from "../../sdk/errors.js";
import { NewerSchemaVersionError } from "../codec/avro.js";
import type { InboundRecord, LogTransport } from "../log/log.js";
import type { Clock, Logger } from "../support.js";
import { PartitionState } from "./state.js";

/**
 * A changelog partition holds records written by a newer KVO. This process must not own the
 * partition (it would misread or drop what it cannot decode): the runtime stops and says to
 * upgrade, so the group hands the partition to a process that can read it.
 */
export class RestoreRefusedError extends KvoError {
  constructor(
    readonly partition: number,
    cause: NewerSchemaVersionError,
  ) {
    super(`changelog partition ${partition} cannot be restored by this process: ${cause.message}`, {
      code: "newer_schema_version",
      retryable: false,
      cause,
    });
  }
}

export interface RestoredPartition {
  state: PartitionState;
  /** The group's committed offset: where consumption resumes. */
  nextOffset: bigint;
  changelogRecords: number;
  /**
   * Records that could not be decoded (corrupt, or not written by KVO). They are left out of
   * the state; the caller copies each to the DLQ and tombstones it so it is read only once.
   */
  quarantined: Array<{ record: InboundRecord; error: KvoError }>;
}

export interface RestoreOptions {
  transport: Pick<LogTransport, "committedOffset" | "readChangelog">;
  partition: number;
  clock: Clock;
  logger: Logger;
  /** Checked between attempts: a partition revoked meanwhile is not restored further. */
  stillWanted: () => boolean;
  /** Called when an attempt failed and will be retried. */
  onRetry?: (error: KvoError, attempt: number, delayMs: number) => void;
}

/**
 * Rebuilds one partition from the changelog.
 *
 * - Reading fails (broker down, timeout): retried with backoff for as long as the partition is
 *   still ours; a partition is never kept without its state.
 * - A record that cannot be decoded is quarantined and the restore goes on: one bad record
 *   must not take the partition (or the process) down.
 * - A record written by a newer version throws RestoreRefusedError at once.
 *
 * Returns null when the partition stopped being wanted before the restore finished.
 */
export async function restorePartition(o: RestoreOptions): Promise<RestoredPartition | null> {
  for (let attempt = 1; ; attempt++) {
    if (!o.stillWanted()) return null;
    try {
      return await readOnce(o);
    } catch (thrown) {
      if (thrown instanceof RestoreRefusedError) throw thrown;
      const error = toKvoError(thrown);
      const delayMs = Math.min(10_000, 200 * 2 ** Math.min(attempt - 1, 6));
      o.logger.warn(
        `restoring partition ${o.partition} failed (attempt ${attempt}, ${error.code}: ${error.message}); retrying in ${delayMs} ms`,
      );
      o.onRetry?.(error, attempt, delayMs);
      await new Promise<void>((resolve) => o.clock.setTimeout(resolve, delayMs));
    }
  }
}

async function readOnce(o: RestoreOptions): Promise<RestoredPartition> {
  // Stable offsets first: a still-open transaction of a previous owner resolves before the
  // changelog is read, so the restore sees everything that transaction committed.
  const committed = await o.transport.committedOffset(o.partition);
  const state = new PartitionState();
  // Keyed by changelog key: only a key whose last record is bad is quarantined (a later good
  // record of the key supersedes the bad one, as compaction would).
  const quarantined = new Map<string, { record: InboundRecord; error: KvoError }>();
  let changelogRecords = 0;
  let refused: NewerSchemaVersionError | null = null;
  await o.transport.readChangelog(o.partition, (record) => {
    changelogRecords++;
    if (!record.key || refused) return;
    const key = record.key.toString("utf8");
    try {
      state.apply(key, record.value);
      quarantined.delete(key);
    } catch (thrown) {
      if (thrown instanceof NewerSchemaVersionError) {
        refused = thrown;
        return;
      }
      // The bad record is the key's latest value: whatever an earlier record held is void.
      state.apply(key, null);
      quarantined.set(key, { record, error: toKvoError(thrown) });
    }
  });
  if (refused) throw new RestoreRefusedError(o.partition, refused);
  return { state, nextOffset: committed ?? 0n, changelogRecords, quarantined: [...quarantined.values()] };
}
