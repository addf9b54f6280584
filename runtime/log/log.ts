/**
 * The runtime's only view of the log (Kafka). The partition processors, the group committer
 * and recovery talk to this port; connectors/kafka implements it with the chosen client.
 * Keeping it small is what lets the client change (see docs/kafka-client.md).
 */

export interface InboundRecord {
  partition: number;
  /** Kafka offset of this record in its partition. */
  offset: bigint;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer>;
  /** Record timestamp, ms since epoch. */
  timestamp: number;
}

export interface OutboundRecord {
  topic: string;
  /** Explicit partition; when absent the key is hashed with Kafka's default murmur2 partitioner. */
  partition?: number;
  key: Buffer | null;
  /** null writes a tombstone (compacted topics). */
  value: Buffer | null;
  headers?: Record<string, Buffer>;
}

export interface TopicSpec {
  name: string;
  partitions: number;
  replicationFactor: number;
  /** "compact" for the changelog, "delete" for logs. */
  cleanupPolicy: "compact" | "delete";
  /** Extra topic configs, e.g. retention.ms. */
  configs?: Record<string, string>;
}

export interface ConsumeListener {
  /** Called before records of these partitions are delivered; ownership starts here. */
  onAssigned(partitions: number[]): Promise<void>;
  /**
   * Called before ownership ends. The runtime finishes (commits or abandons) its open work
   * for these partitions before resolving; no record of them is delivered afterwards.
   */
  onRevoked(partitions: number[]): Promise<void>;
  /** Records of one owned partition, in offset order. */
  onRecords(partition: number, records: InboundRecord[]): void;
}

/** One atomic unit: everything in it becomes visible to read_committed readers, or nothing. */
export interface TransactionBatch {
  records: OutboundRecord[];
  /**
   * Next offset to consume, per input partition, committed for the consumer group inside the
   * transaction. Every transaction names every partition it writes for, so a member whose
   * group generation is stale is refused by the broker (zombie fencing, KIP-447).
   */
  offsets: Map<number, bigint>;
}

export interface LogTransport {
  /** Creates missing topics; throws ConfigurationError when an existing one does not match. */
  ensureTopics(specs: TopicSpec[]): Promise<void>;
  /**
   * Which of these topics exist. Reply topics are named by callers; a record for a missing
   * topic would fail every transaction that carries it, so the runtime checks them first.
   */
  existingTopics(names: string[]): Promise<Set<string>>;
  /** Joins the group on the input topic and starts delivering records to the listener. */
  startConsuming(listener: ConsumeListener): Promise<void>;
  /**
   * The group's committed offset for an input partition, waiting until no transaction that
   * carries offsets for it is still open (stable offsets). Null when nothing was committed.
   */
  committedOffset(partition: number): Promise<bigint | null>;
  /**
   * Reads a changelog partition read_committed from its start to its last stable offset at
   * the time of the call, handing records to onRecord in order.
   */
  readChangelog(partition: number, onRecord: (record: InboundRecord) => void): Promise<void>;
  /** Commits one transaction. Rejects with FencedError when this member may no longer commit. */
  commit(batch: TransactionBatch): Promise<void>;
  /**
   * Leaves and re-joins the group after this member was fenced: every owned partition is
   * revoked (onRevoked), re-assigned (onAssigned) and consumed again from its committed
   * offset, discarding whatever was fetched in between.
   */
  rejoin(): Promise<void>;
  /**
   * End offsets (high watermarks) of input partitions, for lag reporting. Optional: without it
   * a subscription's lag is reported as unknown.
   */
  highWatermarks?(partitions: number[]): Promise<Map<number, bigint>>;
  /**
   * For input partitions none of whose fetched records are held back: the consumer's position,
   * i.e. the offset after the last record delivered and after any transaction markers or
   * aborted records that follow it (never delivered to a read_committed reader). Optional.
   */
  idlePositions?(partitions: number[]): Map<number, bigint>;
  /** Stops delivering records of these partitions until resumed (backpressure). */
  pause(partitions: number[]): void;
  resume(partitions: number[]): void;
  /** Leaves the group and closes clients. */
  stop(): Promise<void>;
}
