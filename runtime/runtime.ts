import type { ObjectDefinition, ServiceDefinition } from "../sdk/definitions.js";
import { ConfigurationError, toKvoError, type FencedError } from "../sdk/errors.js";
import { DEFAULT_INVOCATION_RETRY, resolveRetryPolicy, type RetryPolicy } from "../sdk/retry.js";
import { GroupCommitter } from "./commit/group_committer.js";
import type { ConsumeListener, InboundRecord, LogTransport, TopicSpec } from "./log/log.js";
import { PartitionProcessor } from "./partition/processor.js";
import { DEFAULT_MAX_RECORD_BYTES } from "./partition/limits.js";
import { PartitionState } from "./partition/state.js";
import { Instrumentation, type RuntimeEventListener, type RuntimeEventName } from "./instrumentation.js";
import { ReplyTopics } from "./invocation/reply_topics.js";
import { Registry } from "./registry.js";
import { consoleLogger, systemClock, type Clock, type Logger } from "./support.js";

export interface TopicNames {
  invocations: string;
  changelog: string;
  dlq: string;
}

export interface RuntimeOptions {
  /** Application name: prefix of its topics and its consumer group. */
  app: string;
  objects?: ObjectDefinition[];
  services?: ServiceDefinition[];
  /** Partition count of the invocations and changelog topics (equal, fixed at creation). */
  partitions: number;
  /** Replication factor of topics the runtime creates (default 1; use 3 in production). */
  replicationFactor?: number;
  /** Topic names; default `<app>.invocations`, `<app>.changelog`, `<app>.dlq`. */
  topics?: Partial<TopicNames>;
  /** Default retry policy of invocations (objects may override). */
  retry?: RetryPolicy;
  /** How long outcomes of idempotent invocations are kept for deduplication (default 24 h). */
  idempotencyRetentionMs?: number;
  /**
   * Largest value the runtime writes in one Kafka record: handler outputs, state values,
   * journals, invocation records (default 900,000 bytes; Kafka's default limit is 1 MB).
   * Larger ones fail their invocation with code record_too_large.
   */
  maxRecordBytes?: number;
  /** In-flight invocations per partition above which its consumption pauses (default 10,000). */
  maxInFlightPerPartition?: number;
  logger?: Logger;
  clock?: Clock;
}

export function topicNames(app: string, overrides: Partial<TopicNames> = {}): TopicNames {
  return {
    invocations: overrides.invocations ?? `${app}.invocations`,
    changelog: overrides.changelog ?? `${app}.changelog`,
    dlq: overrides.dlq ?? `${app}.dlq`,
  };
}

export interface RuntimeStats {
  /** Partitions this process owns now. */
  partitions: number[];
  completed: number;
  failed: number;
  inFlight: number;
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
}

const APP_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/;

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
  private counters = { completed: 0, failed: 0, fenced: 0 };
  private state: "new" | "running" | "stopping" | "stopped" = "new";
  private resolveClosed!: (error: Error | undefined) => void;
  /**
   * Resolves when the runtime has stopped: with undefined after stop(), with the error when
   * it stopped by itself because it can never commit again (another live process took its
   * transactional identity). Supervisors should exit the process on an error.
   */
  readonly closed: Promise<Error | undefined> = new Promise((resolve) => (this.resolveClosed = resolve));

  constructor(
    private readonly options: RuntimeOptions,
    private readonly transport: LogTransport,
  ) {
    if (!APP_PATTERN.test(options.app)) {
      throw new ConfigurationError(`app name "${options.app}" is invalid: use letters, digits, '.', '_' or '-' (it prefixes topic and group names)`);
    }
    if (!Number.isInteger(options.partitions) || options.partitions < 1) {
      throw new ConfigurationError(`partitions must be a positive integer, got ${options.partitions}`);
    }
    if (options.maxRecordBytes !== undefined && (!Number.isInteger(options.maxRecordBytes) || options.maxRecordBytes < 1024)) {
      throw new ConfigurationError(`maxRecordBytes must be an integer of at least 1024, got ${options.maxRecordBytes}`);
    }
    this.topics = topicNames(options.app, options.topics);
    this.logger = options.logger ?? consoleLogger(`kvo ${options.app}`);
    this.clock = options.clock ?? systemClock;
    const defaultRetry = resolveRetryPolicy(options.retry, DEFAULT_INVOCATION_RETRY);
    this.registry = new Registry([...(options.objects ?? []), ...(options.services ?? [])], defaultRetry);
    if (this.registry.names().length === 0) throw new ConfigurationError("the runtime hosts no objects or services; pass objects: [...] or services: [...]");
    this.replyTopics = new ReplyTopics((names) => transport.existingTopics(names), this.clock, this.logger);
    this.events = new Instrumentation(this.logger);
    this.committer = new GroupCommitter(
      transport,
      this.topics.changelog,
      this.clock,
      this.logger,
      (e) => this.onFenced(e),
      (records, durationMs) => this.events.emit("commit.done", { records, durationMs }),
      (e, attempt, retryInMs) => this.events.emit("commit.failed", { code: e.code, message: e.message, attempt, retryInMs }),
    );
  }

  topicSpecs(): TopicSpec[] {
    const rf = this.options.replicationFactor ?? 1;
    const p = this.options.partitions;
    return [
      { name: this.topics.invocations, partitions: p, replicationFactor: rf, cleanupPolicy: "delete", configs: { "retention.ms": String(7 * 24 * 3600_000) } },
      { name: this.topics.changelog, partitions: p, replicationFactor: rf, cleanupPolicy: "compact" },
      { name: this.topics.dlq, partitions: p, replicationFactor: rf, cleanupPolicy: "delete", configs: { "retention.ms": String(30 * 24 * 3600_000) } },
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
  }

  /** Graceful stop: commits what is pending, hands partitions back, leaves the group. */
  async stop(): Promise<void> {
    if (this.state !== "running") return;
    this.state = "stopping";
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

  stats(): RuntimeStats {
    const s = this.committer.stats;
    return {
      partitions: [...this.processors.keys()].sort((a, b) => a - b),
      completed: this.counters.completed,
      failed: this.counters.failed,
      inFlight: [...this.processors.values()].reduce((n, p) => n + p.inFlight, 0),
      commits: s.commits,
      committedRecords: s.records,
      meanCommitMs: s.commits === 0 ? 0 : s.commitMs / s.commits,
      commitRetries: s.retries,
      commitFailingForMs: s.failingSince === null ? 0 : this.clock.now() - s.failingSince,
      fenced: this.counters.fenced,
    };
  }

  // ---- group membership --------------------------------------------------------------------

  private async onAssigned(partitions: number[]): Promise<void> {
    for (const p of partitions) this.assigned.add(p);
    await Promise.all(partitions.map((p) => this.restore(p)));
  }

  private async onRevoked(partitions: number[]): Promise<void> {
    for (const p of partitions) this.assigned.delete(p);
    await Promise.all(partitions.map((p) => this.restoring.get(p)));
    // The generation is still ours during the callback: commit what the partitions produced.
    await this.committer.flush();
    for (const p of partitions) {
      this.processors.get(p)?.close();
      this.processors.delete(p);
      this.committer.untrack(p);
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
    const unknown = this.replyTopics.unknownIn(records);
    if (!queued && unknown.length === 0) {
      for (const record of records) processor.ingest(record);
      return;
    }
    // Bound to this processor: if it is replaced (fencing, re-assignment) these records are
    // dropped by the closed one and redelivered to the new one from the committed offset.
    const next = (queued ?? Promise.resolve())
      .then(() => (unknown.length > 0 ? this.replyTopics.refresh(unknown) : undefined))
      .then(() => {
        for (const record of records) processor.ingest(record);
      })
      .finally(() => {
        if (this.ingestQueues.get(processor) === next) this.ingestQueues.delete(processor);
      });
    this.ingestQueues.set(processor, next);
  }

  /** Rebuilds a partition from the changelog, then resumes its in-flight invocations. */
  private restore(partition: number): Promise<void> {
    const running = (async () => {
      const started = this.clock.now();
      // Stable offsets first: a still-open transaction of a previous owner resolves before
      // the changelog is read, so the restore sees everything that transaction committed.
      const committed = await this.transport.committedOffset(partition);
      const state = new PartitionState();
      let records = 0;
      await this.transport.readChangelog(partition, (record) => {
        records++;
        if (record.key) state.apply(record.key.toString("utf8"), record.value);
      });
      if (!this.assigned.has(partition) || this.state !== "running") return;
      const nextOffset = committed ?? 0n;
      this.committer.track(partition, nextOffset);
      const processor = new PartitionProcessor(
        {
          partition,
          invocationsTopic: this.topics.invocations,
          dlqTopic: this.topics.dlq,
          registry: this.registry,
          sink: this.committer,
          clock: this.clock,
          logger: this.logger,
          idempotencyRetentionMs: this.options.idempotencyRetentionMs ?? 24 * 3600_000,
          nextOffset,
          maxInFlight: this.options.maxInFlightPerPartition ?? 10_000,
          maxRecordBytes: this.options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES,
          replyTopicExists: (topic) => this.replyTopics.exists(topic),
          onBackpressure: (paused) => (paused ? this.transport.pause([partition]) : this.transport.resume([partition])),
          onCompleted: (inv, failure) => {
            if (failure) this.counters.failed++;
            else this.counters.completed++;
            this.events.emit("invocation.end", { invocationId: inv.id, target: inv.target, key: inv.key, handler: inv.handler, attempts: inv.attempt, failure });
          },
        },
        state,
      );
      this.processors.get(partition)?.close();
      this.processors.set(partition, processor);
      processor.start();
      if (state.unknownKeys > 0) this.logger.warn(`partition ${partition}: skipped ${state.unknownKeys} changelog records with keys this version does not know`);
      const durationMs = this.clock.now() - started;
      this.logger.info(`partition ${partition} restored: ${records} changelog records, ${state.invocations.size} in flight, ${durationMs} ms`);
      this.events.emit("partition.restored", { partition, changelogRecords: records, inFlight: state.invocations.size, durationMs });
    })().finally(() => this.restoring.delete(partition));
    this.restoring.set(partition, running);
    return running;
  }

  /**
   * Another member owns some of our partitions now. Everything uncommitted is void: close
   * all processors, then re-join the group so each partition we still get is restored from
   * the changelog and consumed again from its committed offset.
   */
  private onFenced(error: FencedError): void {
    this.counters.fenced++;
    this.events.emit("fenced", { message: error.message });
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
  private async fail(cause: unknown): Promise<void> {
    if (this.state !== "running") return;
    const error = toKvoError(cause);
    this.logger.error(`stopping: re-joining the group after fencing failed, this process cannot commit any more (${error.message}). Another live process probably runs with the same kafka.instanceId; give each process its own.`);
    this.state = "stopping";
    this.dropAllWork();
    this.committer.stop();
    await this.transport.stop().catch((e: unknown) => this.logger.warn(`closing the Kafka clients: ${(e as Error).message}`));
    this.state = "stopped";
    this.resolveClosed(error);
  }
}
