import type { OutboundRecord } from "../log/log.js";
import type { LazyEncode, LazyWrite } from "./batch.js";

/** Names the batch a write joined (see CommitSink.retract). */
export type BatchToken = object;

/**
 * Where partition processors put their effects. Writes join the pending batch of the group
 * committer; `durable()` resolves when everything written so far is committed. After this
 * process is fenced the promise never settles: the superseded work simply stops.
 */
export interface CommitSink {
  /**
   * Changelog record for this partition; within one batch the last write of a key wins.
   * Returns the batch it joined (an opaque token for `retract`).
   */
  putChangelog(partition: number, key: string, value: Buffer | null): BatchToken;
  /**
   * Takes a changelog write back out of the batch `token` names if that batch is still open
   * (not sealed): returns false, changing nothing, otherwise. For a key that was written only
   * in that open batch, retracting is the same as writing a tombstone, one record cheaper.
   */
  retract(partition: number, key: string, token: BatchToken): boolean;
  /**
   * A changelog record needed only if the batch is sealed before it is retracted: `encode`
   * gives its key and value when the batch is sealed, and it costs nothing if retractLazy
   * takes it back while the batch is open (an invocation that ends in the batch that accepted
   * it never writes its `inv` record). `estimate` (bytes) counts towards the batch's limits
   * meanwhile. An ordinary write of the same key in the batch supersedes it.
   */
  putChangelogLazy(partition: number, estimate: number, encode: LazyEncode): LazyWrite;
  /** Takes a lazy write back if its batch is still open: true when it will never be written. */
  retractLazy(write: LazyWrite): boolean;
  /** Any other record: replies, DLQ, outgoing invocations. */
  emit(record: OutboundRecord): void;
  /** The next input offset of a partition whose records are all accounted for in the batch. */
  consumed(partition: number, nextOffset: bigint): void;
  durable(): Promise<void>;
  /**
   * The writer finished a step whose writes must commit together (an ingested record, a
   * completion): the batch may be sealed here if it is full. Batches are never sealed inside
   * a step; without this call a full batch is sealed at the end of the current turn.
   */
  stepBoundary(): void;
}
