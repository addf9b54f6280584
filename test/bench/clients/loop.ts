/**
 * One transactional consume→process→produce loop, written once per client in that client's
 * idiomatic style: a read_committed consumer in a group (auto commit off) hands batches to
 * `eachBatch`; each chunk of `recordsPerTxn` records becomes one transaction holding the
 * output records and the consumed offsets; on any error the transaction is aborted and the
 * error is thrown back to the consumer, which re-delivers from the last resolved offset.
 */
export interface LoopOptions {
  brokers: string[];
  inputTopic: string;
  outputTopic: string;
  groupId: string;
  transactionalId: string;
  recordsPerTxn: number;
  transactionTimeoutMs: number;
  /** Sleep after each commit (throttles the restart scenario so the run spans the outage). */
  pauseMs?: number;
  /** Called after each committed transaction; times from performance.now(). */
  onCommit(records: number, startedAt: number, endedAt: number, nextOffset: number): void;
  onError(err: unknown): void;
}

export interface RunningLoop {
  stop(): Promise<void>;
}

export type StartLoop = (opts: LoopOptions) => Promise<RunningLoop>;

/** Output value of one input record: the "processing" step. */
export function process(value: Buffer | null): Buffer {
  return Buffer.concat([Buffer.from("out:"), value ?? Buffer.alloc(0)]);
}
