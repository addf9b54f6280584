import { ConfigurationError, toKvoError, type FencedError, type KvoError } from "../sdk/errors.js";
import { DEFAULT_INVOCATION_RETRY, resolveRetryPolicy } from "../sdk/retry.js";
import { GroupCommitter } from "./commit/group_committer.js";
import type { ConsumeListener, InboundRecord, LogTransport, TopicSpec } from "./log/log.js";
import { PartitionProcessor } from "./partition/processor.js";
import { PauseControl } from "./partition/pause_control.js";
import { Instrumentation, type RuntimeEventListener, type RuntimeEventName } from "./instrumentation.js";
import { ReplyTopics } from "./invocation/reply_topics.js";
import { fittedDlqRecord } from "./partition/record_limits.js";
import { resolveRuntimeOptions, type ResolvedRuntimeOptions, type RuntimeOptions, type TopicNames } from "./options.js";
import { restorePartition, RestoreRefusedError } from "./partition/restore.js";
import { Registry } from "./registry.js";
import { DEFAULT_STUCK_AFTER_MS, stuckReport, type StuckInvocation } from "./partition/stuck.js";
import type { Clock, Logger } from "./support.js";
import type { RuntimePorts } from "./ports.js";
import { SubscriptionRelay } from "./ingress/relay.js";
import type { SubscriptionStats } from "./ingress/relay_stats.js";

export { topicNames } from "./options.js";
export type { RuntimeOptions, TopicNames } from "./options.js";

/** Records of one partition waiting for reply-topic lookups above which the partition pauses. */
const MAX_RECORDS_AWAITING_LOOKUP = 5_000;

export interface RuntimeStats {
  /** Partitions this process owns now. */
  partitions: number[];
  completed: number;
  failed: number;
  /** In-flight invocations (running, queued, waiting for a retry, or suspended). */
  inFlight: number;
  /** In-flight invocations suspended while they wait for a call, timer or awakeable (only their records in memory). */
  suspended: number;
  /** Pending timers of owned partitions: sleeps of in-flight invocations and delayed sends. */
  timers: number;
  commits: number;
  committedRecords: number;
  /** Mean transaction commit time, ms. */
  meanCommitMs: number;
  commitRetries: number;
  /**
   * How long commits have been failing (and retried), ms; 0 while they succeed. A value that
   * keeps growing means nothing gets committed: alert on it.
   */
  commitFailingForMs: number;
  fenced: number;
  /** Longest transaction so far, ms. */
  maxCommitMs: number;
  /** Written but not yet committed bytes (bounded by maxUncommittedBytes, then consumption pauses). */
  uncommittedBytes: number;
  /** Owned partitions whose consumption is paused now, with the limits that paused them. */
  paused: Array<{ partition: number; reasons: string[] }>;
  /** Changelog records that could not be decoded on restore (copied to the DLQ and tombstoned). */
  quarantinedChangelogRecords: number;
  /** How long the oldest invocation holding its key (running or awaiting a retry) has held it, ms; 0 when none. */
  longestRunningMs: number;
  /** The oldest invocations holding their key for at least `stuckAfterMs` (default 60 s), at most 10. */
  stuck: StuckInvocation[];
  /** Each subscription's relay on this process: its state, counts and lag per owned source partition. */
  subscriptions: SubscriptionStats[];
}

/**
 * One runtime process: joins the app's consumer group, owns a partition processor per
 * assigned partition, and commits all of their effects through one group committer. It
 * knows Kafka only through the LogTransport port.
 */
export class Runtime {
  readonly topics: TopicNames;
  private readonly registry: Registry;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly committer: GroupCommitter;
  private readonly processors = new Map<number, PartitionProcessor>();
  /** Partitions the group gave us; a processor exists for each once restored. */
  private readonly assigned = new Set<number>();
  private readonly restoring = new Map<number, Promise<void>>();
  private readonly replyTopics: ReplyTopics;
  private readonly events: Instrumentation;
  /**
   * Per partition, the tail of records waiting for a reply-topic lookup; later records of the
   * partition queue behind it so that ingestion stays in offset order.
   */
  private readonly ingestQueues = new Map<PartitionProcessor, Promise<void>>();
  private counters = { completed: 0, failed: 0, fenced: 0, quarantined: 0 };
  private state: "new" | "running" | "stopping" | "stopped" = "new";
  private resolveClosed!: (error: Error | undefined) => void;
  /**
   * Resolves when the runtime has stopped: with undefined after stop(), with the error when
   * it stopped by itself because it can never commit again (another live process took its
   * transactional identity). Supervisors should exit the process on an error.
   */
  readonly closed: Promise<Error | undefined> = new Promise((resolve) => (this.resolveClosed = resolve));

  private readonly options: ResolvedRuntimeOptions;
  private readonly pauses: PauseControl;
  /** Records per partition queued behind a reply-topic lookup (bounded: the partition pauses). */
  private readonly awaitingLookup = new Map<number, number>();
  /** One relay per subscription (runtime/ingress/relay.ts), created at start. */
  private relays: SubscriptionRelay[] = [];

  constructor(
    options: RuntimeOptions,
    private readonly transport: LogTransport,
    private readonly ports: RuntimePorts = {},
  ) {
    this.options = resolveRuntimeOptions(options);
    this.topics = this.options.topics;
    this.logger = this.options.logger;
    this.clock = this.options.clock;
    const defaultRetry = resolveRetryPolicy(this.options.retry, DEFAULT_INVOCATION_RETRY);
    this.registry = new Registry([...this.options.objects, ...this.options.services], defaultRetry);
    if (this.registry.names().length === 0)
      throw new ConfigurationError("the runtime hosts no objects or services; pass objects: [...] or services: [...]");
    this.replyTopics = new ReplyTopics((names) => transport.existingTopics(names), this.clock, this.logger, {
      reserved: [this.topics.invocations, this.topics.changelog, this.topics.dlq, this.topics.sourceOffsets],
      existingTtlMs: this.options.replyTopicTtlMs,
    });
    this.events = new Instrumentation(this.logger);
    if (this.options.subscriptions.length > 0 && !ports.subscriptionTransport)
      throw new ConfigurationError("subscriptions need a Kafka transport per subscription: create the runtime with createRuntime()");
    const avroSubscription = this.options.subscriptions.find((s) => typeof s.value === "object" && s.value.kind === "avro");
    if (avroSubscription && !ports.avroPayloads)
      throw new ConfigurationError(
        `subscription ${avroSubscription.name} reads Avro but the runtime has no Schema Registry: create the runtime with createRuntime()`,
      );
    this.pauses = new PauseControl(
      (partitions) => transport.pause(partitions),
      (partitions) => transport.resume(partitions),
    );
    this.committer = new GroupCommitter(
      transport,
      this.topics.changelog,
      this.clock,
      this.logger,
      {
        maxTransactionRecords: this.options.maxTransactionRecords,
        maxTransactionBytes: this.options.maxTransactionBytes,
        maxUncommittedBytes: this.options.maxUncommittedBytes,
      },
      {
        onFenced: (e) => this.onFenced(e),
        onCommitted: (records, durationMs) => this.events.emit("commit.done", { records, durationMs }),
        onCommitFailed: (e, attempt, retryInMs) =>
          this.events.emit("commit.failed", { code: e.code, message: e.message, attempt, retryInMs }),
        onPressure: (over) => {
          if (over)
            this.logger.info(
              `uncommitted bytes above maxUncommittedBytes (${this.options.maxUncommittedBytes}); pausing consumption until commits catch up`,
            );
          this.pauses.setGlobal("uncommitted-bytes", over, [...this.processors.keys()]);
        },
      },
    );
  }

  topicSpecs(): TopicSpec[] {
    const rf = this.options.replicationFactor;
    const p = this.options.partitions;
    return [
      {
        name: this.topics.invocations,
        partitions: p,
        replicationFactor: rf,
        cleanupPolicy: "delete",
        configs: { "retention.ms": String(7 * 24 * 3600_000) },
      },
      { name: this.topics.changelog, partitions: p, replicationFactor: rf, cleanupPolicy: "compact" },
      {
        name: this.topics.dlq,
        partitions: p,
        replicationFactor: rf,
        cleanupPolicy: "delete",
        configs: { "retention.ms": String(30 * 24 * 3600_000) },
      },
      // one partition: a relay reads it whole when it is assigned source partitions (small: one
      // record per source partition once compacted)
      {
        name: this.topics.sourceOffsets,
        partitions: 1,
        replicationFactor: rf,
        cleanupPolicy: "compact",
        configs: { "segment.ms": String(3600_000), "min.cleanable.dirty.ratio": "0.1" },
      },
    ];
  }

  async start(): Promise<void> {
    if (this.state !== "new") throw new ConfigurationError(`runtime ${this.options.app} was already started`);
    this.state = "running";
    await this.transport.ensureTopics(this.topicSpecs());
    const listener: ConsumeListener = {
      onAssigned: (partitions) => this.onAssigned(partitions),
      onRevoked: (partitions) => this.onRevoked(partitions),
      onRecords: (partition, records) => this.onRecords(partition, records),
    };
    await this.transport.startConsuming(listener);
    this.logger.info(`started; topics ${this.topics.invocations}, ${this.topics.changelog}`);
    this.relays = this.options.subscriptions.map(
      (subscription) =>
        new SubscriptionRelay({
          subscription,
          transport: this.ports.subscriptionTransport!(subscription),
          topics: this.topics,
          avroPayloads: this.ports.avroPayloads,
          clock: this.clock,
          logger: this.logger,
          events: this.events,
          limits: {
            maxTransactionRecords: this.options.maxTransactionRecords,
            maxTransactionBytes: this.options.maxTransactionBytes,
            maxUncommittedBytes: this.options.maxUncommittedBytes,
            maxRecordBytes: this.options.maxRecordBytes,
          },
        }),
    );
    // in the background: a subscription may wait for its topic without holding up the others
    for (const relay of this.relays) relay.start();
  }

  /** Graceful stop: commits what is pending, hands partitions back, leaves the group. */
  async stop(): Promise<void> {
    if (this.state !== "running") return;
    this.state = "stopping";
    // relays first: what they committed is then read and run by the processors below... or, if
    // this process stops first, by the next owner of the invocations partitions
    await Promise.all(this.relays.map((relay) => relay.stop()));
    await this.committer.flush();
    await this.transport.stop();
    for (const processor of this.processors.values()) processor.close();
    this.processors.clear();
    await this.committer.flush();
    this.committer.stop();
    this.state = "stopped";
    this.resolveClosed(undefined);
  }

  /** Subscribes to an instrumentation event (see RuntimeEvents); returns the unsubscribe function. */
  on<E extends RuntimeEventName>(event: E, listener: RuntimeEventListener<E>): () => void {
    return this.events.on(event, listener);
  }

  /** @param stuckAfterMs how long an invocation must have held its key to be listed in `stuck` (default 60 s). */
  stats(options: { stuckAfterMs?: number } = {}): RuntimeStats {
    const s = this.committer.stats;
    const holders = [...this.processors.values()].flatMap((p) => p.holders());
    return {
      ...stuckReport(holders, this.clock.now(), options.stuckAfterMs ?? DEFAULT_STUCK_AFTER_MS),
      partitions: [...this.processors.keys()].sort((a, b) => a - b),
      completed: this.counters.completed,
      failed: this.counters.failed,
      inFlight: [...this.processors.values()].reduce((n, p) => n + p.inFlight, 0),
      suspended: [...this.processors.values()].reduce((n, p) => n + p.suspended, 0),
      timers: [...this.processors.values()].reduce((n, p) => n + p.pendingTimers, 0),
      commits: s.commits,
      committedRecords: s.records,
      meanCommitMs: s.commits === 0 ? 0 : s.commitMs / s.commits,
      commitRetries: s.retries,
      commitFailingForMs: s.failingSince === null ? 0 : this.clock.now() - s.failingSince,
      fenced: this.counters.fenced,
      maxCommitMs: s.maxCommitMs,
      uncommittedBytes: this.committer.uncommittedBytes,
      paused: [...this.processors.keys()]
        .filter((p) => this.pauses.isPaused(p))
        .map((partition) => ({ partition, reasons: this.pauses.reasons(partition) })),
      quarantinedChangelogRecords: this.counters.quarantined,
      subscriptions: this.relays.map((relay) => relay.stats()),
    };
  }

  /**
   * Cancels an invocation in flight on this process: it fails with the terminal code
   * `cancelled` (callers get that failure, its state writes are discarded, the next invocation
   * of its key starts), whether it is running (its attempt's AbortSignal aborts), waiting for
   * a retry or queued behind its key. Resolves true once the cancellation is committed, false
   * when no partition of this process has it in flight (finished, unknown, or owned by another
   * process: produce a `kvo-cancel` record, or use client.cancel(), to reach any process).
   */
  async cancel(invocationId: string): Promise<boolean> {
    for (const processor of this.processors.values()) {
      if (processor.cancel(invocationId, "runtime.cancel()")) {
        await this.committer.durable();
        return true;
      }
    }
    this.logger.info(`runtime.cancel(${invocationId}): not in flight on this process; nothing cancelled`);
    return false;
  }

  // ---- group membership --------------------------------------------------------------------

  private async onAssigned(partitions: number[]): Promise<void> {
    for (const p of partitions) this.assigned.add(p);
    await Promise.all(partitions.map((p) => this.restore(p)));
  }

  private async onRevoked(partitions: number[]): Promise<void> {
    for (const p of partitions) this.assigned.delete(p);
    await Promise.all(partitions.map((p) => this.restoring.get(p) ?? Promise.resolve()));
    // Close first: afterwards nothing of these partitions reaches a batch. Seal what is open:
    // it carries every record they wrote with their offsets. Untrack them before waiting, so
    // batches that other (still owned) partitions fill meanwhile never name them. The flush,
    // while the generation is still ours, then commits all of it.
    for (const p of partitions) {
      this.processors.get(p)?.close();
      this.processors.delete(p);
    }
    this.committer.sealOpen();
    for (const p of partitions) {
      this.committer.untrack(p);
      this.pauses.forget(p);
      this.awaitingLookup.delete(p);
    }
    await this.committer.flush();
    this.logger.info(`released partitions ${partitions.join(", ")}`);
    this.events.emit("partition.revoked", { partitions });
  }

  private onRecords(partition: number, records: InboundRecord[]): void {
    const processor = this.processors.get(partition);
    if (!processor) {
      this.logger.warn(`records for partition ${partition}, which has no processor; they will be redelivered to its owner`);
      return;
    }
    const queued = this.ingestQueues.get(processor);
    if (!queued && this.replyTopics.unknownIn(records).length === 0) {
      for (const record of records) {
        processor.ingest(record);
        this.committer.stepBoundary(); // a delivery of many records may fill several batches
      }
      return;
    }
    // Records queue behind reply-topic lookups in offset order. Each record is looked at right
    // before it is ingested: a topic whose cached answer expired while records waited is looked
    // up again, never taken as existing. The queue is bounded: past the limit the partition
    // pauses until it drains. Bound to this processor: if it is replaced (fencing,
    // re-assignment) these records are dropped by the closed one and redelivered to the new
    // one from the committed offset.
    this.countAwaitingLookup(partition, records.length);
    const next = (queued ?? Promise.resolve())
      .then(async () => {
        for (let i = 0; i < records.length; i++) {
          const unknown = this.replyTopics.unknownIn(records.slice(i, i + 1));
          if (unknown.length > 0) await this.replyTopics.refresh(this.replyTopics.unknownIn(records.slice(i)));
          processor.ingest(records[i]!);
          this.committer.stepBoundary();
        }
      })
      .finally(() => {
        this.countAwaitingLookup(partition, -records.length);
        if (this.ingestQueues.get(processor) === next) this.ingestQueues.delete(processor);
      });
    this.ingestQueues.set(processor, next);
  }

  private countAwaitingLookup(partition: number, delta: number): void {
    const count = (this.awaitingLookup.get(partition) ?? 0) + delta;
    if (count <= 0) this.awaitingLookup.delete(partition);
    else this.awaitingLookup.set(partition, count);
    if (!this.processors.has(partition)) return;
    this.pauses.set(partition, "reply-topic-lookup", count >= MAX_RECORDS_AWAITING_LOOKUP);
  }

  /** Rebuilds a partition from the changelog, then resumes its in-flight invocations. */
  private restore(partition: number): Promise<void> {
    const running = (async () => {
      const started = this.clock.now();
      let restored;
      try {
        restored = await restorePartition({
          transport: this.transport,
          partition,
          clock: this.clock,
          logger: this.logger,
          stillWanted: () => this.assigned.has(partition) && this.state === "running",
          onRetry: (error, attempt, retryInMs) =>
            this.events.emit("partition.restore_failed", { partition, code: error.code, message: error.message, attempt, retryInMs }),
        });
      } catch (error) {
        // Written by a newer KVO: never keep the partition without its state; stop so that
        // the group hands it to a process that can read it.
        if (error instanceof RestoreRefusedError) {
          void this.fail(error, `${error.message} Stopping this process so that its partitions move to upgraded ones.`);
          return;
        }
        throw error;
      }
      if (!restored || !this.assigned.has(partition) || this.state !== "running") return;
      const { state, nextOffset, changelogRecords, quarantined } = restored;
      this.committer.track(partition, nextOffset);
      for (const { record, error } of quarantined) this.quarantine(partition, record, error);
      const processor = new PartitionProcessor(
        {
          partition,
          invocationsTopic: this.topics.invocations,
          dlqTopic: this.topics.dlq,
          registry: this.registry,
          sink: this.committer,
          clock: this.clock,
          logger: this.logger,
          idempotencyRetentionMs: this.options.idempotencyRetentionMs,
          nextOffset,
          maxInFlight: this.options.maxInFlightPerPartition,
          maxInFlightBytes: this.options.maxInFlightBytesPerPartition,
          maxOutcomes: this.options.maxOutcomesPerPartition,
          maxOutcomeBytes: this.options.maxOutcomeBytesPerPartition,
          maxReplyTargets: this.options.maxReplyTargets,
          maxRecordBytes: this.options.maxRecordBytes,
          attemptTimeoutMs: this.options.attemptTimeoutMs,
          partitions: this.options.partitions,
          suspendAfterMs: this.options.suspendAfterMs,
          maxSuspended: this.options.maxSuspendedPerPartition,
          replyTopicStatus: (topic) => this.replyTopics.status(topic),
          lookUpTopics: (topics) => this.replyTopics.refresh(topics),
          avroPayloads: this.ports.avroPayloads,
          onBackpressure: (reason, paused) => this.pauses.set(partition, reason, paused),
          onCompleted: (inv, failure) => {
            if (failure) this.counters.failed++;
            else this.counters.completed++;
            this.events.emit("invocation.end", {
              invocationId: inv.id,
              target: inv.target,
              key: inv.key,
              handler: inv.handler,
              attempts: inv.attempt,
              failure,
            });
          },
        },
        state,
      );
      this.processors.get(partition)?.close();
      this.processors.set(partition, processor);
      this.pauses.setGlobal("uncommitted-bytes", this.committer.uncommittedBytes > this.options.maxUncommittedBytes, [partition]);
      processor.start();
      if (state.unknownKeys > 0)
        this.logger.warn(`partition ${partition}: skipped ${state.unknownKeys} changelog records with keys this version does not know`);
      const durationMs = this.clock.now() - started;
      this.logger.info(
        `partition ${partition} restored: ${changelogRecords} changelog records, ${state.invocations.size} in flight, ${durationMs} ms`,
      );
      this.events.emit("partition.restored", { partition, changelogRecords, inFlight: state.invocations.size, durationMs });
    })().finally(() => this.restoring.delete(partition));
    this.restoring.set(partition, running);
    return running;
  }

  /**
   * A changelog record this version cannot decode (corrupt, or not written by KVO): a DLQ copy
   * with the reason and its coordinates, and a tombstone so the next restore does not meet it
   * again; both commit with the partition's offsets. Counted, reported, logged.
   */
  private quarantine(partition: number, record: InboundRecord, error: KvoError): void {
    this.counters.quarantined++;
    const failure = {
      code: "corrupt_changelog_record",
      message: `changelog record ${this.topics.changelog}[${partition}]@${record.offset} cannot be decoded and was quarantined: ${error.message}`,
    };
    this.logger.error(failure.message);
    this.events.emit("changelog.quarantined", { partition, offset: record.offset, code: error.code, message: error.message });
    this.committer.emit(fittedDlqRecord(this.topics.dlq, this.topics.changelog, record, failure, this.options.maxRecordBytes));
    this.committer.putChangelog(partition, record.key!.toString("utf8"), null);
  }

  /**
   * Another member owns some of our partitions now. Everything uncommitted is void: close
   * all processors, then re-join the group so each partition we still get is restored from
   * the changelog and consumed again from its committed offset.
   */
  private onFenced(error: FencedError): void {
    this.counters.fenced++;
    this.events.emit("fenced", { message: error.message, origin: error.origin, brokerCode: error.brokerCode });
    this.logger.warn(`fenced (${error.message}); dropping in-memory work of partitions ${[...this.processors.keys()].join(", ")}`);
    this.dropAllWork();
    if (this.state !== "running") return;
    this.transport.rejoin().catch((e: unknown) => void this.fail(e));
  }

  /** Closes every processor and drops the uncommitted batch: none of it may ever commit. */
  private dropAllWork(): void {
    for (const processor of this.processors.values()) processor.close();
    this.processors.clear();
    this.committer.discard();
  }

  /** This process can never commit again: stop consuming and report it through `closed`. */
  private async fail(cause: unknown, reason?: string): Promise<void> {
    if (this.state !== "running") return;
    const error = toKvoError(cause);
    this.logger.error(
      reason ??
        `stopping: re-joining the group after fencing failed, this process cannot commit any more (${error.message}). Another live process probably runs with the same kafka.instanceId; give each process its own.`,
    );
    this.state = "stopping";
    this.dropAllWork();
    this.committer.stop();
    await Promise.all(this.relays.map((relay) => relay.stop().catch(() => undefined)));
    await this.transport.stop().catch((e: unknown) => this.logger.warn(`closing the Kafka clients: ${(e as Error).message}`));
    this.state = "stopped";
    this.resolveClosed(error);
  }
}
