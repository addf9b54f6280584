import { FencedError, KvoError } from "../../sdk/errors.js";
import type { ConsumeListener, InboundRecord, LogTransport, TopicSpec, TransactionBatch } from "../../runtime/log/log.js";
import type { MemoryLog } from "./memory_log.js";

/**
 * What happens to one commit:
 * - ok: applied;
 * - retryable: a transient broker error, nothing applied (the runtime retries the batch);
 * - aborted: the transaction coordinator aborted the transaction, nothing applied (retryable);
 * - fenced: the group moved on, nothing applied (the runtime drops its work and re-joins);
 * - crashBefore / crashAfter: the process dies just before / just after the commit applies.
 */
export type CommitOutcome = "ok" | "retryable" | "aborted" | "fenced" | "crashBefore" | "crashAfter";

export interface CommitFault {
  /** setImmediate hops the commit takes before its outcome (a slow commit). */
  delayTicks: number;
  outcome: CommitOutcome;
}

/**
 * What happens to one delivery (records of one partition handed to the runtime):
 * all available records, only the first `count` (the rest in a later delivery), the process
 * dies instead of delivering, or a rebalance takes partitions away instead and gives them
 * back `turns` event-loop turns later (consumed again from the committed offsets): every owned
 * partition, as the Kafka adapter's eager rebalances do, or only this one when the transport
 * was made with `partialRebalances` (cooperative style).
 */
export type DeliveryFault = { kind: "all" } | { kind: "some"; count: number } | { kind: "crash" } | { kind: "rebalance"; turns: number };

export type TransportEvent =
  | { type: "commit"; process: number; n: number; fault: CommitFault; records: number; offsets: string }
  | { type: "deliver"; process: number; partition: number; from: bigint; count: number }
  | { type: "crash"; process: number; where: string }
  | { type: "rejoin"; process: number }
  | { type: "revoke" | "assign"; process: number; partitions: number[] };

/**
 * The fault schedule of one run, shared by every process of the run: commits and deliveries
 * take the next entry of their list, in the order they happen across processes; past the end
 * of a list everything succeeds, which is what makes every run terminate.
 */
export class FaultScript {
  private commitIndex = 0;
  private deliveryIndex = 0;
  private processIndex = 0;
  /** False once the run is over: its final checks commit without faults. */
  enabled = true;

  constructor(
    readonly commits: readonly CommitFault[] = [],
    readonly deliveries: readonly DeliveryFault[] = [],
    /**
     * Per process, in start order: the number of event-loop turns (setImmediate hops) after
     * which it dies wherever it is (restoring, between two steps, waiting for a backoff), or
     * null to live on.
     */
    readonly lifetimes: ReadonlyArray<number | null> = [],
  ) {}

  nextLifetime(): number | null {
    if (!this.enabled) return null;
    return this.lifetimes[this.processIndex++] ?? null;
  }

  nextCommit(): CommitFault {
    if (!this.enabled) return { delayTicks: 0, outcome: "ok" };
    return this.commits[this.commitIndex++] ?? { delayTicks: 0, outcome: "ok" };
  }

  nextDelivery(): DeliveryFault {
    if (!this.enabled) return { kind: "all" };
    return this.deliveries[this.deliveryIndex++] ?? { kind: "all" };
  }
}

/** A retryable transport failure with nothing applied, like the Kafka adapter's KafkaRetryableError. */
export class InjectedRetryableError extends KvoError {
  constructor(message: string) {
    super(message, { code: "kafka_transient", retryable: true });
  }
}

const never = (): Promise<never> => new Promise<never>(() => {});
const hop = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * A LogTransport over a MemoryLog that injects the faults of a FaultScript: failed, aborted,
 * fenced and slow commits, and process crashes at commits (before or after they apply), at
 * deliveries, and after a number of event-loop turns (anywhere in between). One instance is
 * one process's connection; after a crash it is dead for good: nothing is delivered, commits
 * never settle (like a SIGKILLed process, whose pending work simply stops), and `onCrash`
 * tells the test to start the next process.
 *
 * Group semantics follow Kafka's: this single member owns every partition except while a
 * rebalance (DeliveryFault "rebalance") has taken them away; rejoin() (after fencing) revokes
 * every owned partition, assigns them all again, and consumes again from the group's
 * committed offsets, dropping whatever was fetched in between. Assignments and revocations
 * run one at a time, like Kafka's rebalance callbacks; a partition is owned from the start of
 * onAssigned to the end of onRevoked.
 *
 * It also checks what only the log can see and records breaches in `violations`: offsets
 * committed for partitions this member does not own, and committed offsets that move
 * backwards.
 */
export class FaultyTransport implements LogTransport {
  private listener: ConsumeListener | null = null;
  /** Next offset to deliver, per partition being consumed (owned and fully assigned). */
  private readonly positions = new Map<number, bigint>();
  /** Partitions this member owns (onAssigned started, onRevoked not yet finished). */
  private readonly owned = new Set<number>();
  /** Tail of the group operations (assign, revoke): they run one after another. */
  private groupOps: Promise<void> = Promise.resolve();
  private readonly pausedParts = new Set<number>();
  private unwatch: (() => void) | null = null;
  private deliveryScheduled = false;
  private commits = 0;
  /** Partitions paused so far (backpressure), for statistics. */
  pauses = 0;
  dead = false;
  readonly violations: string[] = [];
  onCrash: ((where: string) => void) | null = null;
  /** Called after a commit was applied to the log (before a crashAfter kills the process). */
  onApplied: (() => void) | null = null;

  constructor(
    private readonly log: MemoryLog,
    private readonly inputTopic: string,
    private readonly changelogTopic: string,
    private readonly script: FaultScript,
    /** Number of this process within the run, for traces. */
    readonly process: number,
    private readonly onEvent: (event: TransportEvent) => void = () => {},
    /** Rebalances revoke only the partition being delivered instead of every owned one. */
    private readonly partialRebalances = false,
  ) {}

  get commitCount(): number {
    return this.commits;
  }

  ensureTopics(specs: TopicSpec[]): Promise<void> {
    for (const s of specs) this.log.createTopic(s.name, s.partitions);
    return Promise.resolve();
  }

  existingTopics(names: string[]): Promise<Set<string>> {
    return Promise.resolve(new Set(names.filter((n) => this.log.topics.has(n))));
  }

  async startConsuming(listener: ConsumeListener): Promise<void> {
    if (this.dead) return never();
    this.listener = listener;
    const lifetime = this.script.nextLifetime();
    if (lifetime !== null) void this.dieAfter(lifetime);
    await this.groupOp(() => this.assign(this.allPartitions()));
    this.unwatch = this.log.watch(() => this.scheduleDelivery());
  }

  committedOffset(partition: number): Promise<bigint | null> {
    return Promise.resolve(this.log.groupOffsets.get(partition) ?? null);
  }

  readChangelog(partition: number, onRecord: (record: InboundRecord) => void): Promise<void> {
    for (const r of [...this.log.partitions(this.changelogTopic)[partition]!]) onRecord(r);
    return Promise.resolve();
  }

  async commit(batch: TransactionBatch): Promise<void> {
    if (this.dead) return never();
    const n = ++this.commits;
    const fault = this.script.nextCommit();
    const offsets = [...batch.offsets].map(([p, o]) => `${p}:${o}`).join(",");
    this.onEvent({ type: "commit", process: this.process, n, fault, records: batch.records.length, offsets });
    for (let i = 0; i < fault.delayTicks; i++) {
      await hop();
      if (this.dead) return never(); // the process died elsewhere while this commit was slow
    }
    switch (fault.outcome) {
      case "retryable":
        throw new InjectedRetryableError(
          `injected fault: commit ${n} of process ${this.process} failed (broker not available); nothing was applied`,
        );
      case "aborted":
        throw new InjectedRetryableError(
          `injected fault: the transaction coordinator aborted commit ${n} of process ${this.process}; nothing was applied`,
        );
      case "fenced":
        throw new FencedError(`injected fault: commit ${n} of process ${this.process} was refused, the group generation moved on`);
      case "crashBefore":
        return this.die(`before applying commit ${n}`);
      case "ok":
      case "crashAfter":
        break;
    }
    this.apply(batch);
    if (fault.outcome === "crashAfter") return this.die(`after applying commit ${n}`);
  }

  rejoin(): Promise<void> {
    if (this.dead || !this.listener) return Promise.resolve();
    this.onEvent({ type: "rejoin", process: this.process });
    return this.groupOp(async () => {
      await this.revoke([...this.owned]);
      await this.assign(this.allPartitions());
    });
  }

  pause(partitions: number[]): void {
    for (const p of partitions) this.pausedParts.add(p);
    this.pauses += partitions.length;
  }

  resume(partitions: number[]): void {
    for (const p of partitions) this.pausedParts.delete(p);
    this.scheduleDelivery();
  }

  async stop(): Promise<void> {
    if (this.listener && !this.dead) await this.groupOp(() => this.revoke([...this.owned]));
    this.unwatch?.();
    this.dead = true;
  }

  /** Kills this process now (used by the test, e.g. at the end of a run). */
  kill(where: string): void {
    if (!this.dead) void this.die(where);
  }

  private allPartitions(): number[] {
    return this.log.partitions(this.inputTopic).map((_, i) => i);
  }

  /** Runs a group operation after the previous ones (a dead member runs none). */
  private groupOp(op: () => Promise<void>): Promise<void> {
    const run = this.groupOps.then(() => (this.dead ? undefined : op()));
    this.groupOps = run.catch(() => undefined);
    return run;
  }

  private async assign(partitions: number[]): Promise<void> {
    const fresh = partitions.filter((p) => !this.owned.has(p));
    if (fresh.length === 0) return;
    this.onEvent({ type: "assign", process: this.process, partitions: fresh });
    for (const p of fresh) this.owned.add(p);
    await this.listener!.onAssigned(fresh);
    if (this.dead) return;
    for (const p of fresh) this.positions.set(p, this.log.groupOffsets.get(p) ?? 0n);
    this.scheduleDelivery();
  }

  private async revoke(partitions: number[]): Promise<void> {
    if (partitions.length === 0) return;
    this.onEvent({ type: "revoke", process: this.process, partitions });
    for (const p of partitions) this.positions.delete(p); // nothing more is delivered
    await this.listener!.onRevoked(partitions);
    for (const p of partitions) {
      this.owned.delete(p);
      this.pausedParts.delete(p); // like the Kafka adapter: a pause ends with the ownership
    }
  }

  /** A rebalance takes partitions away now and gives them back after `turns` event-loop turns. */
  private async rebalance(partition: number, turns: number): Promise<void> {
    let taken: number[] = [];
    await this.groupOp(() => {
      taken = this.partialRebalances ? [partition] : [...this.owned];
      return this.revoke(taken);
    });
    for (let i = 0; i < turns && !this.dead; i++) await hop();
    await this.groupOp(() => this.assign(taken)); // only those not assigned again meanwhile (rejoin)
  }

  private apply(batch: TransactionBatch): void {
    for (const [p, o] of batch.offsets) {
      if (!this.owned.has(p))
        this.violations.push(`commit ${this.commits} carried an offset for partition ${p}, which this member does not own`);
      const before = this.log.groupOffsets.get(p);
      if (before !== undefined && o < before) this.violations.push(`committed offset of partition ${p} moved backwards: ${before} -> ${o}`);
    }
    for (const r of batch.records) this.log.append(r.topic, r);
    for (const [p, o] of batch.offsets) this.log.groupOffsets.set(p, o);
    this.onApplied?.();
    this.log.notify();
  }

  private scheduleDelivery(): void {
    if (this.deliveryScheduled || this.dead) return;
    this.deliveryScheduled = true;
    setImmediate(() => {
      this.deliveryScheduled = false;
      this.deliver();
    });
  }

  private deliver(): void {
    if (this.dead || !this.listener) return;
    const parts = this.log.partitions(this.inputTopic);
    for (const [p, pos] of this.positions) {
      if (this.pausedParts.has(p)) continue;
      const available = parts[p]!.length - Number(pos);
      if (available <= 0) continue;
      const fault = this.script.nextDelivery();
      if (fault.kind === "crash") {
        void this.die(`instead of delivering ${p}@${pos}`);
        return;
      }
      if (fault.kind === "rebalance") {
        void this.rebalance(p, fault.turns);
        if (this.partialRebalances) continue;
        return;
      }
      const count = fault.kind === "some" ? Math.min(fault.count, available) : available;
      const records = parts[p]!.slice(Number(pos), Number(pos) + count);
      this.positions.set(p, pos + BigInt(count));
      this.onEvent({ type: "deliver", process: this.process, partition: p, from: pos, count });
      this.listener.onRecords(p, records);
      if (this.dead) return;
      if (count < available) this.scheduleDelivery();
    }
  }

  private async dieAfter(turns: number): Promise<void> {
    for (let i = 0; i < turns && !this.dead; i++) await hop();
    if (!this.dead && this.script.enabled) void this.die(`after ${turns} event-loop turns`);
  }

  private die(where: string): Promise<never> {
    if (!this.dead) {
      this.dead = true;
      this.unwatch?.();
      this.onEvent({ type: "crash", process: this.process, where });
      this.onCrash?.(where);
    }
    return never();
  }
}
