/**
 * The relay of one subscription: reads the source topic in its own consumer group and turns
 * each record into one invocation record on `<app>.invocations`, exactly once.
 *
 * One Kafka transaction carries, for a batch of source records: the invocation records (or DLQ
 * copies), the source partitions' next offsets for the subscription's group (KIP-447, so a
 * member whose generation is over cannot commit), and each source partition's high-water
 * offset in `<app>.source-offsets` (high_water.ts). Hence:
 * - every source record is relayed once: a crash before the commit aborts the transaction
 *   and the records are read again from the committed offsets; after it, they are not read;
 * - a range read again anyway (group offsets reset to earliest, a recreated group) is skipped
 *   below the high-water offset, so nothing runs twice;
 * - per source partition, records are relayed in offset order by one producer, so every
 *   `<app>.invocations` partition receives one source partition's records in source order
 *   and the partition processors run each object's invocations in that order.
 * The invocation id derives from (subscription, topic, partition, offset): see
 * source_headers.ts. The design and its cost are in docs/design.md ("Subscriptions").
 */
import { type FencedError, toKvoError } from "../../sdk/errors.js";
import { recordBytes } from "../commit/batch.js";
import { GroupCommitter } from "../commit/group_committer.js";
import type { Instrumentation } from "../instrumentation.js";
import type { InboundRecord, LogTransport } from "../log/log.js";
import type { TopicNames } from "../options.js";
import { PauseControl } from "../partition/pause_control.js";
import { RECORD_ENVELOPE_BYTES } from "../partition/record_limits.js";
import type { AvroPayloads } from "../payload/avro_port.js";
import type { Clock, Logger } from "../support.js";
import { encodeHighWater, highWaterKey, HighWaterReader, SOURCE_OFFSETS_PARTITION } from "./high_water.js";
import { routeRecord, type RouteDecision } from "./route_record.js";
import { awaitTopic } from "./await_topic.js";
import { RelayRecords } from "./relay_records.js";
import type { RelayState, SubscriptionPartitionStats, SubscriptionStats } from "./relay_stats.js";
import type { ResolvedSubscription, SourceRecord } from "./subscription.js";

/** Records of a partition waiting behind an asynchronous decode above which it pauses. */
const MAX_QUEUED_RECORDS = 5_000;
/** Records relayed from a queue before it yields to the event loop. */
const YIELD_EVERY_RECORDS = 256;
/** How often lag is measured and reported (subscription.lag). */
const LAG_INTERVAL_MS = 5_000;

export interface RelayLimits {
  maxTransactionRecords: number;
  maxTransactionBytes: number;
  maxUncommittedBytes: number;
  maxRecordBytes: number;
}

export interface RelayDeps {
  subscription: ResolvedSubscription;
  transport: LogTransport;
  topics: TopicNames;
  avroPayloads: AvroPayloads | undefined;
  clock: Clock;
  logger: Logger;
  events: Instrumentation;
  limits: RelayLimits;
}

/** What this process knows of one owned source partition. */
interface OwnedPartition {
  readonly partition: number;
  /** Records are relayed in order; when a decode has to wait, later records queue behind it. */
  queue: Promise<void> | null;
  queued: number;
  /** Next offset to relay; null until known (no committed offset and no record yet). */
  nextOffset: bigint | null;
  /** Highest offset relayed before (from `<app>.source-offsets`); records at or below it are skipped. */
  highWater: bigint | undefined;
  tracked: boolean;
  /** The high-water offset moved in the current step and is not yet in the batch. */
  highWaterDirty: boolean;
  /** Set while a run of records below the high-water offset is being skipped (logged once per run). */
  skipping: boolean;
}

export class SubscriptionRelay {
  private state: RelayState = "new";
  private readonly sub: ResolvedSubscription;
  private readonly committer: GroupCommitter;
  private readonly pauses: PauseControl;
  private readonly owned = new Map<number, OwnedPartition>();
  private readonly highWatermarks = new Map<number, bigint>();
  private readonly counters = { relayed: 0, filtered: 0, deadLettered: 0, skippedDuplicates: 0 };
  private lagTimer: unknown = null;
  private readonly records: RelayRecords;
  private running: Promise<void> | null = null;

  constructor(private readonly d: RelayDeps) {
    this.sub = d.subscription;
    this.records = new RelayRecords(this.sub, d.topics, d.limits.maxRecordBytes);
    this.pauses = new PauseControl(
      (partitions) => d.transport.pause(partitions),
      (partitions) => d.transport.resume(partitions),
    );
    this.committer = new GroupCommitter(
      d.transport,
      d.topics.sourceOffsets,
      d.clock,
      d.logger,
      {
        maxTransactionRecords: d.limits.maxTransactionRecords,
        maxTransactionBytes: d.limits.maxTransactionBytes,
        maxUncommittedBytes: d.limits.maxUncommittedBytes,
      },
      {
        onFenced: (error) => this.onFenced(error),
        onPressure: (over) => this.pauses.setGlobal("uncommitted-bytes", over, [...this.owned.keys()]),
      },
    );
  }

  /** Starts in the background: waits for the topic (or creates it), then joins the group. */
  start(): void {
    if (this.state !== "new") return;
    this.running = this.run().catch((e: unknown) => {
      this.d.logger.error(`subscription ${this.sub.name}: stopped: ${(e as Error)?.message ?? String(e)}`);
    });
  }

  async stop(): Promise<void> {
    if (this.state === "stopped" || this.state === "stopping") return;
    const wasRunning = this.state === "running";
    this.state = "stopping";
    if (this.lagTimer !== null) this.d.clock.clearTimeout(this.lagTimer);
    if (wasRunning) {
      await this.committer.flush();
      await this.d.transport.stop();
      await this.committer.flush();
    } else {
      await this.running;
      await this.d.transport.stop();
    }
    this.committer.stop();
    this.state = "stopped";
  }

  stats(): SubscriptionStats {
    const partitions = [...this.owned.values()]
      .sort((a, b) => a.partition - b.partition)
      .map((p): SubscriptionPartitionStats => {
        const end = this.highWatermarks.get(p.partition);
        const next = p.nextOffset;
        return {
          partition: p.partition,
          nextOffset: next === null ? null : Number(next),
          highWatermark: end === undefined ? null : Number(end),
          lag: end === undefined || next === null ? null : Math.max(0, Number(end - next)),
        };
      });
    return {
      name: this.sub.name,
      topic: this.sub.topic,
      groupId: this.sub.groupId,
      state: this.state,
      ...this.counters,
      commits: this.committer.stats.commits,
      maxCommitMs: this.committer.stats.maxCommitMs,
      commitRetries: this.committer.stats.retries,
      partitions,
    };
  }

  // ---- start: the topic, then the group ----------------------------------------------------

  private async run(): Promise<void> {
    const found = await awaitTopic({
      subscription: this.sub,
      transport: this.d.transport,
      clock: this.d.clock,
      logger: this.d.logger,
      events: this.d.events,
      stillWanted: () => this.state === "new" || this.state === "waiting-for-topic",
      onWaiting: () => void (this.state = "waiting-for-topic"),
    });
    if (!found || (this.state !== "new" && this.state !== "waiting-for-topic")) return;
    this.state = "running";
    await this.d.transport.startConsuming({
      onAssigned: (partitions) => this.onAssigned(partitions),
      onRevoked: (partitions) => this.onRevoked(partitions),
      onRecords: (partition, records) => this.onRecords(partition, records),
    });
    this.d.logger.info(`subscription ${this.sub.name}: reading ${this.sub.topic} in group ${this.sub.groupId}`);
    this.scheduleLag();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.d.clock.setTimeout(resolve, ms));
  }

  // ---- group membership --------------------------------------------------------------------

  private async onAssigned(partitions: number[]): Promise<void> {
    // Stable committed offsets first: they wait until no transaction naming these partitions
    // is open, so the previous owner's last high-water records are settled before we read them.
    const committed = new Map<number, bigint | null>();
    for (const p of partitions) committed.set(p, await this.d.transport.committedOffset(p));
    const highWater = await this.readHighWater();
    for (const p of partitions) {
      const next = committed.get(p) ?? null;
      const owned: OwnedPartition = {
        partition: p,
        queue: null,
        queued: 0,
        nextOffset: next,
        highWater: highWater.get(p),
        tracked: next !== null,
        highWaterDirty: false,
        skipping: false,
      };
      if (next !== null) this.committer.track(p, next);
      this.owned.set(p, owned);
    }
    this.d.logger.info(`subscription ${this.sub.name}: owns ${this.sub.topic} partitions [${partitions.join(", ")}]`);
  }

  /** The high-water offsets of this subscription, read to the end of `<app>.source-offsets` (retried). */
  private async readHighWater(): Promise<Map<number, bigint>> {
    for (let attempt = 1; ; attempt++) {
      const reader = new HighWaterReader(this.sub.name, this.sub.topic, (record, error) =>
        this.d.logger.error(
          `subscription ${this.sub.name}: ${this.d.topics.sourceOffsets}@${record.offset} cannot be decoded (${error.message}); ` +
            `its partition falls back to the committed offset`,
        ),
      );
      try {
        await this.d.transport.readChangelog(SOURCE_OFFSETS_PARTITION, (record) => reader.apply(record));
        return reader.offsets;
      } catch (e) {
        if (this.state !== "running") throw e;
        const delay = Math.min(5_000, 200 * 2 ** Math.min(attempt, 5));
        this.d.logger.warn(
          `subscription ${this.sub.name}: reading ${this.d.topics.sourceOffsets} failed (${(e as Error).message}); retrying in ${delay} ms`,
        );
        await this.sleep(delay);
      }
    }
  }

  private async onRevoked(partitions: number[]): Promise<void> {
    for (const p of partitions) this.owned.delete(p);
    // Seal what is open (it holds these partitions' records and offsets), stop naming them in
    // later batches, then commit while the generation is still ours.
    this.committer.sealOpen();
    for (const p of partitions) {
      this.committer.untrack(p);
      this.pauses.forget(p);
    }
    await this.committer.flush();
  }

  private onFenced(error: FencedError): void {
    this.d.logger.warn(`subscription ${this.sub.name}: fenced (${error.message}); reading its partitions again from the committed offsets`);
    for (const p of this.owned.keys()) this.pauses.forget(p);
    this.owned.clear();
    this.committer.discard();
    if (this.state !== "running") return;
    this.d.transport.rejoin().catch((e: unknown) => {
      this.d.logger.error(`subscription ${this.sub.name}: re-joining its group failed (${(e as Error)?.message}); it stops`);
      void this.stop();
    });
  }

  // ---- records -----------------------------------------------------------------------------

  private onRecords(partition: number, records: InboundRecord[]): void {
    const owned = this.owned.get(partition);
    // revoked meanwhile, or stopping: the next owner reads them from the committed offset
    if (!owned || this.state !== "running") return;
    if (owned.queue) {
      this.enqueue(owned, records, 0, null);
      return;
    }
    for (let i = 0; i < records.length; i++) {
      const decision = this.decide(owned, records[i]!);
      if (decision instanceof Promise) {
        this.enqueue(owned, records, i, decision);
        return;
      }
      this.apply(owned, records[i]!, decision);
    }
    // One delivery is one step: nothing seals a batch inside it (see GroupCommitter), so the
    // high-water offset written once at its end commits with every record of it.
    this.endStep(owned);
  }

  /** Below the high-water offset: already relayed. Otherwise what the record becomes. */
  private decide(owned: OwnedPartition, record: InboundRecord): RouteDecision | "duplicate" | Promise<RouteDecision> {
    if (owned.highWater !== undefined && record.offset <= owned.highWater) return "duplicate";
    return routeRecord(this.sub, sourceRecord(this.sub.topic, record), this.d.avroPayloads);
  }

  /**
   * Relays records[from..] after whatever is queued, in order, waiting where a decode waits.
   * A retryable failure (registry unreachable) is retried with backoff until it succeeds or the
   * partition is no longer ours; the partition pauses while too much waits behind it.
   */
  private enqueue(owned: OwnedPartition, records: InboundRecord[], from: number, first: Promise<RouteDecision> | null): void {
    const count = records.length - from;
    owned.queued += count;
    if (owned.queued >= MAX_QUEUED_RECORDS) this.pauses.set(owned.partition, "decode-queue", true);
    const stillOwned = (): boolean => this.owned.get(owned.partition) === owned;
    const next = (owned.queue ?? Promise.resolve())
      .then(async () => {
        // stopping: what is not applied is not committed; the next owner reads it again
        for (let i = from; i < records.length && stillOwned() && this.state === "running"; i++) {
          // awaits of settled promises never leave the microtask queue: let timers and I/O
          // (commits, other partitions) run between slices of a long queue
          if ((i - from) % YIELD_EVERY_RECORDS === YIELD_EVERY_RECORDS - 1) await new Promise<void>((resolve) => setImmediate(resolve));
          const record = records[i]!;
          let pending: RouteDecision | "duplicate" | Promise<RouteDecision> = i === from && first ? first : this.decide(owned, record);
          for (let attempt = 1; pending instanceof Promise; attempt++) {
            try {
              pending = await pending;
            } catch (e) {
              const error = toKvoError(e);
              const delay = Math.min(10_000, 100 * 2 ** Math.min(attempt, 7));
              this.d.logger.warn(
                `subscription ${this.sub.name}: record ${this.sub.topic}[${record.partition}]@${record.offset} cannot be decoded yet ` +
                  `(${error.code}: ${error.message}); retrying in ${delay} ms`,
              );
              await this.sleep(delay);
              if (!stillOwned() || this.state !== "running") return;
              pending = this.decide(owned, record);
            }
          }
          if (!stillOwned() || this.state !== "running") return;
          this.apply(owned, record, pending);
          this.endStep(owned);
        }
      })
      .finally(() => {
        owned.queued -= count;
        if (owned.queued < MAX_QUEUED_RECORDS / 2) this.pauses.set(owned.partition, "decode-queue", false);
        if (owned.queue === next) owned.queue = null;
      });
    owned.queue = next;
  }

  /**
   * Writes what one record became into the open batch, and its partition's next offset. The
   * step ends with endStep(), which writes the high-water offset: the batch is never sealed
   * between the two (they are one synchronous step), so they always commit together.
   */
  private apply(owned: OwnedPartition, record: InboundRecord, decision: RouteDecision | "duplicate"): void {
    const p = owned.partition;
    if (!owned.tracked) {
      this.committer.track(p, record.offset);
      owned.tracked = true;
    }
    if (decision === "duplicate") {
      this.counters.skippedDuplicates++;
      if (!owned.skipping) {
        owned.skipping = true;
        this.d.logger.info(
          `subscription ${this.sub.name}: ${this.sub.topic}[${p}] from offset ${record.offset} up to ${owned.highWater} was relayed before ` +
            `(its group offsets went back, e.g. reset); skipping it`,
        );
      }
    } else {
      owned.skipping = false;
      this.write(record, decision);
      owned.highWater = record.offset;
      owned.highWaterDirty = true;
    }
    owned.nextOffset = record.offset + 1n;
    this.committer.consumed(p, record.offset + 1n);
  }

  /** Ends a step: the partition's high-water offset joins the batch, which may be sealed now. */
  private endStep(owned: OwnedPartition): void {
    if (owned.highWaterDirty && owned.highWater !== undefined) {
      owned.highWaterDirty = false;
      this.committer.putChangelog(
        SOURCE_OFFSETS_PARTITION,
        highWaterKey(this.sub.name, this.sub.topic, owned.partition),
        encodeHighWater(this.sub.name, this.sub.topic, owned.partition, owned.highWater),
      );
    }
    this.committer.stepBoundary();
  }

  private write(record: InboundRecord, decision: RouteDecision): void {
    if (decision.kind === "filtered") {
      this.counters.filtered++;
      return;
    }
    if (decision.kind === "invoke") {
      const invocation = this.records.invocation(record, decision.key, decision.input);
      const size = recordBytes(invocation); // key, value and headers (the source record's too)
      if (size <= this.d.limits.maxRecordBytes - RECORD_ENVELOPE_BYTES) {
        this.committer.emit(invocation);
        this.counters.relayed++;
        return;
      }
      decision = {
        kind: "dead",
        code: "record_too_large",
        message:
          `subscription ${this.sub.name}: record ${this.sub.topic}[${record.partition}]@${record.offset} becomes an invocation record of ${size} bytes (input, key and headers), ` +
          `above maxRecordBytes (${this.d.limits.maxRecordBytes}) less ${RECORD_ENVELOPE_BYTES} bytes kept for the envelope`,
      };
    }
    this.deadLetter(record, decision.code, decision.message);
  }

  private deadLetter(record: InboundRecord, code: string, message: string): void {
    this.counters.deadLettered++;
    this.committer.emit(this.records.deadLetter(record, code, message));
    this.d.logger.warn(`${message} [${code}]; copied to ${this.d.topics.dlq}`);
    this.d.events.emit("subscription.dead_lettered", {
      name: this.sub.name,
      topic: this.sub.topic,
      partition: record.partition,
      offset: Number(record.offset),
      code,
      message,
    });
  }

  // ---- lag -----------------------------------------------------------------------------------

  private scheduleLag(): void {
    if (this.state !== "running") return;
    this.lagTimer = this.d.clock.setTimeout(() => {
      void this.measureLag().finally(() => this.scheduleLag());
    }, LAG_INTERVAL_MS);
  }

  /**
   * Moves idle partitions past what read_committed never delivers: after the last record of a
   * transactional producer comes its commit marker (and aborted records may follow), so the
   * next offset to relay stays below the end offset although nothing is left to read. When the
   * consumer's position is ahead and no record of the partition waits anywhere, only such
   * offsets lie in between: the partition's committed offset moves there (one small
   * transaction), and its lag reads 0.
   */
  private skipUndeliverable(): void {
    const idle = [...this.owned.values()].filter((o) => o.queue === null && o.tracked && o.nextOffset !== null);
    if (idle.length === 0 || !this.d.transport.idlePositions) return;
    const positions = this.d.transport.idlePositions(idle.map((o) => o.partition));
    for (const owned of idle) {
      const position = positions.get(owned.partition);
      if (position === undefined || owned.nextOffset === null || position <= owned.nextOffset) continue;
      owned.nextOffset = position;
      this.committer.consumed(owned.partition, position);
    }
  }

  /** Asks for the end offsets of the owned partitions and reports the lag (subscription.lag). */
  async measureLag(): Promise<void> {
    if (this.state === "running") this.skipUndeliverable();
    const partitions = [...this.owned.keys()];
    if (partitions.length === 0 || !this.d.transport.highWatermarks) return;
    try {
      const ends = await this.d.transport.highWatermarks(partitions);
      for (const [p, end] of ends) this.highWatermarks.set(p, end);
    } catch (e) {
      this.d.logger.debug(`subscription ${this.sub.name}: measuring lag failed: ${(e as Error).message}`);
      return;
    }
    const stats = this.stats();
    this.d.events.emit("subscription.lag", {
      name: this.sub.name,
      topic: this.sub.topic,
      partitions: stats.partitions.map(({ partition, lag }) => ({ partition, lag })),
    });
  }
}

function sourceRecord(topic: string, record: InboundRecord): SourceRecord {
  return {
    topic,
    partition: record.partition,
    offset: Number(record.offset),
    timestamp: record.timestamp,
    key: record.key,
    value: record.value,
    headers: record.headers,
  };
}
