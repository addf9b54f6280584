/** What `runtime.stats().subscriptions` reports of each subscription's relay on this process. */

export interface SubscriptionPartitionStats {
  partition: number;
  /** Next source offset to relay (null before the first record of a partition without committed offset). */
  nextOffset: number | null;
  /** The partition's end offset as last measured (null before the first measurement). */
  highWatermark: number | null;
  /** Records not yet relayed: highWatermark − nextOffset (null when either is unknown). */
  lag: number | null;
}

export interface SubscriptionStats {
  name: string;
  topic: string;
  groupId: string;
  state: RelayState;
  /**
   * Source records turned into invocations by this process; counted when written into a
   * transaction, so records of a transaction that was then aborted (fencing) and relayed again
   * by the partition's next owner count twice across processes.
   */
  relayed: number;
  filtered: number;
  deadLettered: number;
  /** Records at or below their partition's high-water offset (read again after an offset reset): skipped. */
  skippedDuplicates: number;
  /** Transactions this relay committed, and the longest one, ms. */
  commits: number;
  maxCommitMs: number;
  /** Relayed batches of this subscription that failed to commit and were retried. */
  commitRetries: number;
  partitions: SubscriptionPartitionStats[];
}

export type RelayState = "new" | "waiting-for-topic" | "running" | "stopping" | "stopped";
