/**
 * Group membership and record delivery for the input topic.
 *
 * Assignment is EAGER (range): every rebalance revokes all of a member's partitions and then
 * assigns the new set. Chosen over cooperative-sticky because then a group generation change
 * always coincides with the loss of every partition, so a commit refused for a stale
 * generation (ILLEGAL_GENERATION and friends) really means "no longer the owner" and is
 * reported as FencedError; with cooperative rebalancing a member keeps partitions across
 * generations and a commit racing a generation bump would be refused while still owning them.
 * The price is a stop-the-world rebalance (every partition restored again) when membership
 * changes; see docs/kafka-client.md.
 *
 * Ordering guarantees towards the listener:
 * - onAssigned(p) resolves before the partitions are handed to librdkafka, so no record of p
 *   can be delivered earlier; p is committable from the start of onAssigned.
 * - on revocation, delivery of p stops at once, onRevoked(p) is awaited (p is still
 *   committable meanwhile, same generation), then p is released. Afterwards commits naming p
 *   are refused locally with FencedError.
 * - records of one partition are delivered in offset order; a paused partition's records
 *   that were already fetched are held and delivered on resume.
 *
 * pause() holds records in memory and pauses librdkafka's fetcher of the partition only once
 * HOLD_LIMIT records are held: resuming a paused fetcher costs a new fetch round (up to
 * fetch.wait.max.ms, measured ~450 ms with the default 500), which short backpressure
 * pauses would pay every time; librdkafka prefetches that much per partition anyway.
 */
import type { ConsumeListener, InboundRecord } from "../../runtime/log/log.js";
import { RdCodes, asRdError, describe } from "./errors.js";
import { consumerClientId } from "./identity.js";
import { baseConfig, type ResolvedOptions } from "./options.js";
import {
  OFFSET_INVALID,
  committed,
  connect,
  consume,
  disconnect,
  newConsumer,
  setConsumeTimeout,
  sleep,
  toInbound,
  type Consumer,
  type RdKafka,
} from "./rdkafka.js";

const CONSUME_BATCH = 500;
const CONSUME_TIMEOUT_MS = 100;
/** Held records of a paused partition before its librdkafka fetcher is paused too. */
const HOLD_LIMIT = 5000;

export class GroupConsumer {
  readonly consumer: Consumer;
  private connecting: Promise<void> | null = null;
  private listener: ConsumeListener | null = null;
  private loop: Promise<void> | null = null;
  private running = false;
  private stopping = false;
  /** Partitions whose records are delivered. */
  private readonly delivering = new Set<number>();
  /** Partitions this member may commit offsets for (assigned, revocation not finished). */
  private readonly committable = new Set<number>();
  /** Partitions the runtime paused. */
  private readonly paused = new Set<number>();
  /** Paused partitions whose librdkafka fetcher is paused as well. */
  private readonly fetcherPaused = new Set<number>();
  private readonly held = new Map<number, InboundRecord[]>();
  /** Rebalance events are handled one after another, in the order librdkafka raised them. */
  private rebalances: Promise<void> = Promise.resolve();
  private pendingRebalances = 0;
  private rejoining: Promise<void> | null = null;

  constructor(private readonly o: ResolvedOptions) {
    this.consumer = newConsumer(
      {
        ...baseConfig(o, "consumer"),
        // derived from the transactional identity: how a successor using it is recognised
        "client.id": consumerClientId(o),
        "group.id": o.groupId,
        "enable.auto.commit": false,
        "enable.auto.offset.store": false,
        "isolation.level": "read_committed",
        "partition.assignment.strategy": "range",
        "session.timeout.ms": o.sessionTimeoutMs,
        "heartbeat.interval.ms": Math.max(100, Math.min(3000, Math.floor(o.sessionTimeoutMs / 5))),
        "max.poll.interval.ms": o.rebalanceTimeoutMs,
        "enable.partition.eof": false,
        // bounds the wait for a new fetch after a paused fetcher resumes (default 500)
        "fetch.wait.max.ms": 100,
        // Bounds what librdkafka prefetches (default 64 MiB and 100,000 records per partition):
        // a partition the runtime pauses still hands over what was prefetched, and on a backlog
        // that much prefetched data becomes several times its size in JS heap. 8 MiB keeps
        // fetches ahead of processing with memory that does not grow with the backlog.
        "queued.max.messages.kbytes": 8192,
        "queued.min.messages": 10000,
        rebalance_cb: (err: unknown, assignment: RdKafka.TopicPartition[]) => this.onRebalance(err, assignment),
        ...o.rdkafka,
      },
      { "auto.offset.reset": o.autoOffsetReset },
    );
    this.consumer.on("event.error", (err) => this.o.logger.warn(`consumer: ${describe(err)}`));
  }

  /** Connects without joining the group (committedOffset works before startConsuming). */
  connect(): Promise<void> {
    if (!this.connecting) {
      const p = connect(this.consumer, 30_000);
      this.connecting = p;
      p.catch(() => {
        if (this.connecting === p) this.connecting = null;
      });
    }
    return this.connecting;
  }

  async start(listener: ConsumeListener): Promise<void> {
    if (this.listener) throw new Error("startConsuming was already called");
    this.listener = listener;
    await this.connect();
    setConsumeTimeout(this.consumer, CONSUME_TIMEOUT_MS);
    this.consumer.subscribe([this.o.inputTopic]);
    this.running = true;
    this.loop = this.run();
  }

  isCommittable(partition: number): boolean {
    return this.committable.has(partition);
  }

  pause(partitions: number[]): void {
    for (const p of partitions) this.paused.add(p);
  }

  resume(partitions: number[]): void {
    for (const p of partitions) this.paused.delete(p);
    const fetchers = partitions.filter((p) => this.fetcherPaused.has(p));
    for (const p of fetchers) this.fetcherPaused.delete(p);
    this.pauseFetchers(fetchers, false);
    if (partitions.some((p) => this.held.has(p))) setImmediate(() => this.releaseHeld(partitions));
  }

  /** Pauses or resumes librdkafka's fetching of the partitions that are assigned. */
  private pauseFetchers(partitions: number[], pause: boolean): void {
    const assigned = new Set(this.safeAssignments().map((a) => a.partition));
    const tps = partitions.filter((p) => assigned.has(p)).map((partition) => ({ topic: this.o.inputTopic, partition }));
    if (tps.length === 0) return;
    try {
      if (pause) this.consumer.pause(tps);
      else this.consumer.resume(tps);
    } catch (err) {
      this.o.logger.warn(`consumer ${pause ? "pause" : "resume"} failed: ${describe(err)}`);
    }
  }

  /**
   * Hands held records of resumed partitions to the listener, at most CONSUME_BATCH per
   * partition per turn of the event loop. Delivered at once, the up to HOLD_LIMIT records of
   * every partition paused by one process-wide limit came back in one synchronous burst with
   * all the work they start: event-loop stalls of 1-2 s under a backlog, during which open
   * transactions aged. Records fetched meanwhile queue behind the held ones (order kept).
   */
  private releaseHeld(partitions: number[]): void {
    const more: number[] = [];
    for (const p of partitions) {
      const records = this.held.get(p);
      if (!records || this.paused.has(p)) continue;
      if (!this.delivering.has(p)) {
        this.held.delete(p);
        continue;
      }
      const slice = records.length > CONSUME_BATCH ? records.splice(0, CONSUME_BATCH) : records;
      if (slice === records) this.held.delete(p);
      else more.push(p);
      if (slice.length > 0) this.deliver(p, slice);
    }
    if (more.length > 0) setImmediate(() => this.releaseHeld(more));
  }

  /**
   * The group's committed offset of an input partition. librdkafka sends OffsetFetch with
   * require_stable (isolation.level=read_committed) and retries while the broker answers
   * UNSTABLE_OFFSET_COMMIT, i.e. while a transaction holding offsets for it is open.
   */
  async committedOffset(partition: number): Promise<bigint | null> {
    await this.connect();
    for (;;) {
      try {
        const [tp] = await committed(this.consumer, [{ topic: this.o.inputTopic, partition }], this.o.transactionTimeoutMs + 5000);
        if (tp?.error) throw tp.error;
        // no committed offset: the binding leaves `offset` out, or reports OFFSET_INVALID
        if (!tp || typeof tp.offset !== "number" || tp.offset === OFFSET_INVALID || tp.offset < 0) return null;
        return BigInt(tp.offset);
      } catch (err) {
        if (this.stopping || asRdError(err).code === -1) throw err;
        // an open transaction outlives the request timeout, or the coordinator moves: try again
        this.o.logger.debug(`committed offset of ${this.o.inputTopic}[${partition}]: ${describe(err)}; retrying`);
        await sleep(200);
      }
    }
  }

  /**
   * The consumer's position (next offset it will fetch) of delivered partitions with no
   * fetched record held back: past the last record handed to the listener, and past the
   * transaction markers and aborted records after it, which read_committed never delivers.
   */
  idlePositions(partitions: number[]): Map<number, bigint> {
    const positions = new Map<number, bigint>();
    const tps = partitions
      .filter((p) => this.delivering.has(p) && !this.held.has(p))
      .map((partition) => ({ topic: this.o.inputTopic, partition }));
    if (tps.length === 0) return positions;
    try {
      for (const tp of this.consumer.position(tps)) {
        if (typeof tp.offset === "number" && tp.offset >= 0) positions.set(tp.partition, BigInt(tp.offset));
      }
    } catch (err) {
      this.o.logger.debug(`position of ${this.o.inputTopic}: ${describe(err)}`);
    }
    return positions;
  }

  /** End offsets of input partitions, asked from their leaders (lag reporting). */
  async highWatermarks(partitions: number[]): Promise<Map<number, bigint>> {
    await this.connect();
    const ends = new Map<number, bigint>();
    for (const partition of partitions) {
      const high = await new Promise<number>((resolve, reject) => {
        this.consumer.queryWatermarkOffsets(this.o.inputTopic, partition, 5_000, (err, offsets) => {
          if (err) reject(err instanceof Error ? err : new Error(describe(err)));
          else resolve(Number(offsets.highOffset));
        });
      });
      ends.set(partition, BigInt(high));
    }
    return ends;
  }

  /**
   * Leaves the group and joins it again as a new member (after this member was fenced):
   * every owned partition is revoked (onRevoked awaited) and what was fetched is dropped;
   * partitions assigned afterwards start from their committed offsets. `beforeJoin` runs
   * after leaving; when it throws, the member stays out of the group.
   */
  rejoin(beforeJoin?: () => Promise<void>): Promise<void> {
    if (!this.loop || this.stopping) return Promise.resolve();
    this.rejoining ??= (async () => {
      this.o.logger.info(`leaving group "${this.o.groupId}" to join it again`);
      await this.leave();
      // between leaving and joining: a check that must not count this member (see identity.ts)
      await beforeJoin?.();
      if (!this.stopping) this.consumer.subscribe([this.o.inputTopic]);
    })().finally(() => {
      this.rejoining = null;
    });
    return this.rejoining;
  }

  /** Leaves the group: revokes (awaiting onRevoked) and closes the consumer. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.loop) {
      await this.rejoining?.catch(() => undefined);
      await this.leave();
      this.running = false;
      await this.loop;
    }
    this.delivering.clear();
    this.committable.clear();
    if (this.connecting) {
      await this.connecting.catch(() => undefined);
      await disconnect(this.consumer);
    }
  }

  /** Unsubscribes and waits until the revocation ran (the consume loop serves its callback). */
  private async leave(): Promise<void> {
    try {
      this.consumer.unsubscribe();
    } catch (err) {
      this.o.logger.warn(`unsubscribe failed: ${describe(err)}`);
    }
    for (const p of this.delivering) this.delivering.delete(p);
    this.held.clear();
    const deadline = Date.now() + this.o.rebalanceTimeoutMs;
    while (Date.now() < deadline && (this.committable.size > 0 || this.pendingRebalances > 0 || this.safeAssignments().length > 0)) {
      await sleep(20);
    }
  }

  private assignmentLost(): boolean {
    try {
      return (this.consumer as unknown as { assignmentLost(): boolean }).assignmentLost();
    } catch {
      return false;
    }
  }

  private safeAssignments(): RdKafka.Assignment[] {
    try {
      return this.consumer.isConnected() ? this.consumer.assignments() : [];
    } catch {
      return [];
    }
  }

  private async run(): Promise<void> {
    while (this.running) {
      let messages: RdKafka.Message[];
      try {
        messages = await consume(this.consumer, CONSUME_BATCH);
      } catch (err) {
        if (!this.running) break;
        this.o.logger.warn(`consume failed: ${describe(err)}`);
        await sleep(200);
        continue;
      }
      if (messages.length === 0) continue;
      const byPartition = new Map<number, InboundRecord[]>();
      for (const m of messages) {
        if (m.topic !== this.o.inputTopic || !this.delivering.has(m.partition)) continue;
        let list = byPartition.get(m.partition);
        if (!list) byPartition.set(m.partition, (list = []));
        list.push(toInbound(m));
      }
      for (const [p, records] of byPartition) {
        if (this.paused.has(p) || this.held.has(p)) {
          let held = this.held.get(p);
          if (held) held.push(...records);
          else this.held.set(p, (held = records));
          if (held.length >= HOLD_LIMIT && this.paused.has(p) && !this.fetcherPaused.has(p)) {
            this.fetcherPaused.add(p);
            this.pauseFetchers([p], true);
          }
        } else {
          this.deliver(p, records);
        }
      }
    }
  }

  private deliver(partition: number, records: InboundRecord[]): void {
    try {
      this.listener?.onRecords(partition, records);
    } catch (err) {
      this.o.logger.error(`onRecords(${partition}) threw: ${describe(err)}`);
    }
  }

  private onRebalance(err: unknown, assignment: RdKafka.TopicPartition[]): void {
    const code = asRdError(err).code;
    const partitions = assignment.filter((tp) => tp.topic === this.o.inputTopic).map((tp) => tp.partition);
    if (code === RdCodes.ERR__REVOKE_PARTITIONS) {
      // stop delivering at once; commits stay allowed until onRevoked resolves (same
      // generation), unless the assignment is already lost (session timed out, member
      // evicted): then another member may own the partitions and nothing may be committed
      const lost = this.assignmentLost();
      for (const p of partitions) {
        this.delivering.delete(p);
        this.held.delete(p);
        if (lost) this.committable.delete(p);
      }
      if (lost) this.o.logger.warn(`assignment of [${partitions.join(", ")}] lost: commits for them are refused`);
    }
    this.pendingRebalances++;
    this.rebalances = this.rebalances
      .then(async () => {
        if (code === RdCodes.ERR__ASSIGN_PARTITIONS) await this.assigned(assignment, partitions);
        else if (code === RdCodes.ERR__REVOKE_PARTITIONS) await this.revoked(partitions);
        else {
          this.o.logger.error(`rebalance error: ${describe(err)}; releasing the assignment`);
          await this.revoked(partitions);
        }
      })
      .catch((e: unknown) => this.o.logger.error(`rebalance handling failed: ${describe(e)}`))
      .finally(() => {
        this.pendingRebalances--;
      });
  }

  private async assigned(assignment: RdKafka.TopicPartition[], partitions: number[]): Promise<void> {
    if (this.stopping || !this.listener) {
      this.consumer.assign(assignment);
      return;
    }
    this.o.logger.info(`assigned ${this.o.inputTopic} partitions [${partitions.join(", ")}]`);
    for (const p of partitions) this.committable.add(p);
    try {
      await this.listener.onAssigned(partitions);
    } catch (e) {
      this.o.logger.error(`onAssigned([${partitions.join(", ")}]) failed: ${describe(e)}`);
    }
    for (const p of partitions) this.delivering.add(p);
    // records flow from here on, from the group's committed (stable) offsets
    this.consumer.assign(assignment);
  }

  private async revoked(partitions: number[]): Promise<void> {
    this.o.logger.info(`revoking ${this.o.inputTopic} partitions [${partitions.join(", ")}]`);
    try {
      if (this.listener && partitions.length > 0) await this.listener.onRevoked(partitions);
    } catch (e) {
      this.o.logger.error(`onRevoked([${partitions.join(", ")}]) failed: ${describe(e)}`);
    } finally {
      for (const p of partitions) {
        this.committable.delete(p);
        this.paused.delete(p);
        this.fetcherPaused.delete(p);
      }
      try {
        this.consumer.unassign();
      } catch (e) {
        this.o.logger.warn(`unassign failed: ${describe(e)}`);
      }
    }
  }
}
