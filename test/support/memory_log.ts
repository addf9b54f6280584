import type { ConsumeListener, InboundRecord, LogTransport, TopicSpec, TransactionBatch } from "../../runtime/log/log.js";
import { defaultPartition } from "../../runtime/log/partitioner.js";

/**
 * An in-memory stand-in for a Kafka cluster, for deterministic unit tests of the runtime
 * (never for integration tests). Transactions are atomic appends; a transport can be
 * "crashed" at a chosen commit, before or after the commit is applied, to model SIGKILL.
 */
export class MemoryLog {
  readonly topics = new Map<string, InboundRecord[][]>();
  /** Committed offsets per consumer group (partition → next offset). */
  readonly groups = new Map<string, Map<number, bigint>>();
  /** Offsets of the default group (the app's own). */
  readonly groupOffsets = this.offsetsOf("default");

  offsetsOf(group: string): Map<number, bigint> {
    let offsets = this.groups.get(group);
    if (!offsets) this.groups.set(group, (offsets = new Map<number, bigint>()));
    return offsets;
  }
  private readonly watchers = new Set<() => void>();

  createTopic(name: string, partitions: number): void {
    if (!this.topics.has(name))
      this.topics.set(
        name,
        Array.from({ length: partitions }, () => []),
      );
  }

  partitions(topic: string): InboundRecord[][] {
    const t = this.topics.get(topic);
    if (!t) throw new Error(`memory log: no topic ${topic}`);
    return t;
  }

  append(
    topic: string,
    record: { partition?: number; key: Buffer | null; value: Buffer | null; headers?: Record<string, Buffer> },
  ): InboundRecord {
    const parts = this.partitions(topic);
    // Kafka's default partitioner, as the runtime's producer and any Java or kafkajs producer use
    const partition = record.partition ?? (record.key ? defaultPartition(record.key, parts.length) : 0);
    const log = parts[partition]!;
    const stored: InboundRecord = {
      partition,
      offset: BigInt(log.length),
      key: record.key,
      value: record.value,
      headers: record.headers ?? {},
      timestamp: Date.now(),
    };
    log.push(stored);
    return stored;
  }

  notify(): void {
    for (const w of this.watchers) w();
  }

  watch(fn: () => void): () => void {
    this.watchers.add(fn);
    return () => this.watchers.delete(fn);
  }

  /** Latest value per key of a compacted topic partition (tombstones remove). */
  compacted(topic: string, partition: number): Map<string, Buffer> {
    const out = new Map<string, Buffer>();
    for (const r of this.partitions(topic)[partition]!) {
      const k = r.key!.toString();
      if (r.value === null) out.delete(k);
      else out.set(k, r.value);
    }
    return out;
  }
}

export interface CrashPlan {
  /** 1-based number of the commit at which the process dies. */
  atCommit: number;
  /** Whether that commit is applied before the process dies. */
  afterApply: boolean;
}

export class MemoryTransport implements LogTransport {
  private listener: ConsumeListener | null = null;
  private positions = new Map<number, bigint>();
  private unwatch: (() => void) | null = null;
  private commits = 0;
  private pausedParts = new Set<number>();
  dead = false;
  onCrash: (() => void) | null = null;

  constructor(
    private readonly log: MemoryLog,
    private readonly inputTopic: string,
    private readonly changelogTopic: string,
    private readonly crash: CrashPlan | null = null,
    private readonly group = "default",
  ) {}

  private get offsets(): Map<number, bigint> {
    return this.log.offsetsOf(this.group);
  }

  async highWatermarks(partitions: number[]): Promise<Map<number, bigint>> {
    const parts = this.log.partitions(this.inputTopic);
    return new Map(partitions.map((p) => [p, BigInt(parts[p]?.length ?? 0)]));
  }

  get commitCount(): number {
    return this.commits;
  }

  async ensureTopics(specs: TopicSpec[]): Promise<void> {
    for (const s of specs) this.log.createTopic(s.name, s.partitions);
  }

  async existingTopics(names: string[]): Promise<Set<string>> {
    return new Set(names.filter((n) => this.log.topics.has(n)));
  }

  async startConsuming(listener: ConsumeListener): Promise<void> {
    this.listener = listener;
    const all = this.log.partitions(this.inputTopic).map((_, i) => i);
    await listener.onAssigned(all);
    for (const p of all) this.positions.set(p, this.offsets.get(p) ?? 0n);
    this.unwatch = this.log.watch(() => setImmediate(() => this.deliver()));
    setImmediate(() => this.deliver());
  }

  private deliver(): void {
    if (this.dead || !this.listener) return;
    const parts = this.log.partitions(this.inputTopic);
    for (const [p, pos] of this.positions) {
      if (this.pausedParts.has(p)) continue;
      const records = parts[p]!.slice(Number(pos));
      if (records.length === 0) continue;
      this.positions.set(p, pos + BigInt(records.length));
      this.listener.onRecords(p, records);
    }
  }

  async committedOffset(partition: number): Promise<bigint | null> {
    return this.offsets.get(partition) ?? null;
  }

  async readChangelog(partition: number, onRecord: (record: InboundRecord) => void): Promise<void> {
    for (const r of [...this.log.partitions(this.changelogTopic)[partition]!]) onRecord(r);
  }

  async commit(batch: TransactionBatch): Promise<void> {
    if (this.dead) return new Promise<void>(() => {});
    this.commits++;
    const dies = this.crash !== null && this.commits === this.crash.atCommit;
    if (dies && !this.crash.afterApply) return this.die();
    for (const r of batch.records) this.log.append(r.topic, r);
    for (const [p, o] of batch.offsets) this.offsets.set(p, o);
    this.log.notify();
    if (dies) return this.die();
  }

  private die(): Promise<void> {
    this.dead = true;
    this.unwatch?.();
    this.onCrash?.();
    return new Promise<void>(() => {});
  }

  async rejoin(): Promise<void> {}

  pause(partitions: number[]): void {
    for (const p of partitions) this.pausedParts.add(p);
  }

  resume(partitions: number[]): void {
    for (const p of partitions) this.pausedParts.delete(p);
    setImmediate(() => this.deliver());
  }

  async stop(): Promise<void> {
    if (this.listener && !this.dead) await this.listener.onRevoked([...this.positions.keys()]);
    this.unwatch?.();
    this.dead = true;
  }
}
