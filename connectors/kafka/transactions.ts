/**
 * The process's one transactional producer and commit(batch).
 *
 * commit = begin → produce every record → sendOffsetsToTransaction(offsets, group consumer)
 * → commit. The offsets go with the consumer's group metadata (KIP-447), so the group
 * coordinator refuses them from a member whose generation is over.
 *
 * Outcomes (commit() never returns with a transaction of this producer still open):
 * - resolved: everything is committed.
 * - FencedError: nothing is committed; this member no longer owns a named partition (refused
 *   locally, or by the broker: ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID / FENCED_INSTANCE_ID),
 *   or a newer producer with the same transactional.id exists (every later commit is fenced).
 *   librdkafka reports "fenced by a newer instance" also when the coordinator aborted our
 *   transaction for outliving transaction.timeout.ms (e.g. the broker was down that long,
 *   or this process was paused that long while a successor took its instanceId). Such a
 *   fence is ambiguous: the producer is discarded, the commit rejects with FencedError (the
 *   runtime re-joins the group), and no producer is initialised again until the re-join has
 *   checked that no other live member uses this identity (identity.ts): a stale process must
 *   never fence its live successor, and a broker outage must not stop a healthy one.
 * - KafkaRetryableError: nothing is committed (the transaction was aborted, or its producer
 *   was discarded so that nobody can commit it); the same batch may be committed again.
 * A commit whose outcome is not yet known (commitTransaction timed out: the coordinator may
 * have it) is resumed, not reported: librdkafka resumes it when the call is repeated.
 */
import type { OutboundRecord, TransactionBatch } from "../../runtime/log/log.js";
import { FencedError, KafkaRetryableError, RdCodes, TransportStoppedError, asRdError, classifyTxnError, describe } from "./errors.js";
import type { GroupConsumer } from "./group.js";
import { baseConfig, type ResolvedOptions } from "./options.js";
import {
  abortTransaction,
  beginTransaction,
  commitTransaction,
  connect,
  disconnect,
  initTransactions,
  newProducer,
  sendOffsetsToTransaction,
  sleep,
  type Producer,
  type RdKafka,
} from "./rdkafka.js";

/**
 * Delivery reports of one producer. commit waits for them before commitTransaction: that
 * call flushes with a 10 ms poll step when anything is still in flight (librdkafka's
 * rd_kafka_flush), which made every commit ~10 ms slower than awaiting the reports here.
 */
class Deliveries {
  private pending = 0;
  private waiters: (() => void)[] = [];

  sent(): void {
    this.pending++;
  }

  delivered(): void {
    this.pending = Math.max(0, this.pending - 1);
    if (this.pending === 0) for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves when every record sent so far is acknowledged or failed (never rejects). */
  settled(): Promise<void> {
    return this.pending === 0 ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }
}

/** Headers as the client takes them: one single-entry object per header, in order. */
function clientHeaders(headers: Record<string, Buffer>): RdKafka.MessageHeader[] | undefined {
  let out: RdKafka.MessageHeader[] | undefined;
  // a computed key defines the property, whatever the name (an assignment of "__proto__" would not)
  for (const name in headers) (out ??= []).push({ [name]: headers[name]! });
  return out;
}

export class TransactionalProducer {
  private ready: Promise<Producer> | null = null;
  private readonly deliveries = new WeakMap<Producer, Deliveries>();
  private fenced: FencedError | null = null;
  /** Set by an ambiguous fence (see fencedInTransaction); cleared by the re-join's check. */
  private identityInDoubt = false;
  private chain: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly o: ResolvedOptions,
    private readonly group: GroupConsumer,
  ) {}

  /** Commits batches one at a time, in call order. */
  commit(batch: TransactionBatch): Promise<void> {
    const run = this.chain.then(() => this.commitNow(batch));
    this.chain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Throws the FencedError of a producer fenced by a newer one with the same transactional.id. */
  assertNotFenced(): void {
    if (this.fenced) throw this.fenced;
  }

  /** Waits for the commit in progress (bounded), then closes the producer. */
  async stop(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.chain, new Promise<void>((r) => (timer = setTimeout(r, this.o.transactionTimeoutMs + 5000)))]);
    clearTimeout(timer);
    this.stopped = true;
    const ready = this.ready;
    this.ready = null;
    if (ready) {
      const p = await ready.catch(() => null);
      if (p) await disconnect(p);
    }
  }

  /** Connects and initialises transactions (fencing any earlier producer of this transactional.id). */
  private producer(): Promise<Producer> {
    if (this.identityInDoubt) {
      return Promise.reject(
        new KafkaRetryableError("the producer waits for the identity check of the group re-join after an ambiguous fence"),
      );
    }
    if (!this.ready) {
      const attempt = this.open();
      this.ready = attempt;
      attempt.catch(() => {
        if (this.ready === attempt) this.ready = null;
      });
    }
    return this.ready;
  }

  private async open(): Promise<Producer> {
    const p = newProducer(
      {
        ...baseConfig(this.o, "producer"),
        "transactional.id": this.o.transactionalId,
        "enable.idempotence": true,
        "transaction.timeout.ms": this.o.transactionTimeoutMs,
        // commitTransaction flushes; a short linger only groups records produced in one turn
        "linger.ms": 1,
        // A transaction that starts right after the previous commit meets CONCURRENT_TRANSACTIONS
        // until the coordinator has written the markers; librdkafka retries after retry.backoff.ms
        // (default 100), which would add ~100 ms to such commits. The Java client uses 20.
        "retry.backoff.ms": 10,
        "retry.backoff.max.ms": 1000,
        dr_cb: true,
        ...this.o.rdkafka,
      },
      {
        // Kafka's default partitioner (murmur2 of the key), so any Kafka producer agrees on partitions
        partitioner: "murmur2_random",
      },
    );
    p.on("event.error", (err) => this.o.logger.warn(`producer: ${describe(err)}`));
    const deliveries = new Deliveries();
    this.deliveries.set(p, deliveries);
    // a failed delivery fails commitTransaction (abortable); only the count matters here
    p.on("delivery-report", () => deliveries.delivered());
    try {
      await connect(p, 30_000);
      p.setPollInBackground(true);
      await initTransactions(p, Math.max(30_000, this.o.transactionTimeoutMs * 2));
      return p;
    } catch (err) {
      await disconnect(p, 1000);
      throw err;
    }
  }

  /** Throws the producer away; the next commit opens a new one (initTransactions aborts leftovers). */
  private async discard(): Promise<void> {
    const ready = this.ready;
    this.ready = null;
    const p = ready ? await ready.catch(() => null) : null;
    if (p) await disconnect(p, 1000);
  }

  private async commitNow(batch: TransactionBatch): Promise<void> {
    if (this.fenced) throw this.fenced;
    if (this.stopped) throw new TransportStoppedError("commit");
    for (const partition of batch.offsets.keys()) {
      if (!this.group.isCommittable(partition)) {
        throw new FencedError(
          `commit names ${this.o.inputTopic}[${partition}], which this member does not own (revoked or never assigned)`,
        );
      }
    }
    if (batch.records.length === 0 && batch.offsets.size === 0) return;

    let p: Producer;
    try {
      p = await this.producer();
    } catch (err) {
      throw this.onOpenFailure(err);
    }
    const begunAt = Date.now();
    try {
      await beginTransaction(p);
    } catch (err) {
      // no transaction is open; the producer's state is unknown: start over with a new one
      await this.discard();
      throw this.onOpenFailure(err);
    }
    try {
      // synchronous while librdkafka's queue takes records; awaits only when it is full
      const deliveries = this.deliveries.get(p);
      for (const r of batch.records) if (!this.tryProduce(p, r, deliveries)) await this.produce(p, r, deliveries);
      const delivered = deliveries?.settled() ?? Promise.resolve();
      if (batch.offsets.size > 0) {
        const offsets = [...batch.offsets].map(([partition, next]) => ({
          topic: this.o.inputTopic,
          partition,
          offset: Number(next),
        }));
        await this.retrying("sendOffsetsToTransaction", () =>
          sendOffsetsToTransaction(p, offsets, this.group.consumer, this.o.transactionTimeoutMs),
        );
      }
      await delivered;
      await this.retrying("commitTransaction", () => commitTransaction(p, this.o.transactionTimeoutMs));
    } catch (err) {
      throw await this.failed(p, err, begunAt);
    }
  }

  /** Produces at once; false when the local queue is full (then produce() waits for room). */
  private tryProduce(p: Producer, r: OutboundRecord, deliveries: Deliveries | undefined): boolean {
    try {
      p.produce(
        r.topic,
        r.partition ?? null,
        r.value,
        r.key ?? undefined,
        null,
        undefined,
        r.headers ? clientHeaders(r.headers) : undefined,
      );
    } catch (err) {
      if (asRdError(err).code === RdCodes.ERR__QUEUE_FULL) return false;
      throw err;
    }
    deliveries?.sent();
    return true;
  }

  /** Produces, waiting while librdkafka's local queue is full for in-flight records to be acknowledged. */
  private async produce(p: Producer, r: OutboundRecord, deliveries: Deliveries | undefined): Promise<void> {
    while (!this.tryProduce(p, r, deliveries)) {
      if (this.stopped) throw new TransportStoppedError("produce");
      await sleep(5);
    }
  }

  /** Repeats a call librdkafka marks retriable (it resumes where it stopped). */
  private async retrying(what: string, fn: () => Promise<void>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        const rd = asRdError(err);
        if (classifyTxnError(rd) !== "retry-call" || this.stopped) throw err;
        this.o.logger.warn(`${what} failed (${describe(err)}); retrying (attempt ${attempt + 1})`);
        await sleep(Math.min(1000, 50 * 2 ** Math.min(attempt, 5)));
      }
    }
  }

  /** Ends a failed transaction and returns the error commit() rejects with. */
  private async failed(p: Producer, err: unknown, begunAt: number): Promise<Error> {
    const rd = asRdError(err);
    let kind = classifyTxnError(rd);
    if (kind === "retry-call") kind = "abort-retryable"; // transport stopped while retrying
    if (kind === "producer-fenced") return this.fencedInTransaction(err, begunAt);
    if (kind === "fatal") {
      await this.discard();
      return new KafkaRetryableError(`commit failed, the producer was reset: ${describe(err)}`, { cause: err });
    }
    const aborted = await this.abort(p, begunAt);
    if (aborted) return aborted;
    if (kind === "abort-group-fenced") {
      return new FencedError(
        `the group coordinator refused this member's offsets (${describe(err)}): its generation of group ` +
          `"${this.o.groupId}" is over; the transaction was aborted`,
        { cause: err, origin: "broker", brokerCode: asRdError(err).code },
      );
    }
    return new KafkaRetryableError(`commit failed and was aborted: ${describe(err)}`, { cause: err });
  }

  /**
   * Aborts the open transaction. When that is impossible (fatal error, or the broker stays
   * unreachable for a transaction timeout) the producer is discarded instead: no one can
   * commit its transaction any more, the coordinator aborts it, and the next producer's
   * initTransactions waits for that.
   */
  private async abort(p: Producer, begunAt: number): Promise<Error | null> {
    const deadline = Date.now() + this.o.transactionTimeoutMs;
    for (let attempt = 1; ; attempt++) {
      try {
        await abortTransaction(p, this.o.transactionTimeoutMs);
        return null;
      } catch (err) {
        const kind = classifyTxnError(asRdError(err));
        if (kind === "producer-fenced") return this.fencedInTransaction(err, begunAt);
        if (kind !== "retry-call" || Date.now() > deadline || this.stopped) {
          this.o.logger.warn(`abortTransaction failed (${describe(err)}); discarding the producer`);
          await this.discard();
          return null;
        }
        await sleep(Math.min(1000, 50 * 2 ** Math.min(attempt, 5)));
      }
    }
  }

  /**
   * "Fenced" inside a transaction: by a newer producer with our transactional.id, or by the
   * coordinator's abort of a transaction older than transaction.timeout.ms (which bumps the
   * epoch just the same). Only a transaction at least that old can have been timed out.
   */
  private async fencedInTransaction(err: unknown, begunAt: number): Promise<Error> {
    const age = Date.now() - begunAt;
    if (age < this.o.transactionTimeoutMs) return this.producerFenced(err);
    this.o.logger.warn(
      `transaction open ${age} ms (> transaction.timeout.ms ${this.o.transactionTimeoutMs}) ended fenced ` +
        `(${describe(err)}): aborted by the coordinator, or a successor took this identity; ` +
        `re-joining the group and checking before the producer is initialised again`,
    );
    this.identityInDoubt = true;
    await this.discard();
    return new FencedError(
      `the transaction outlived transaction.timeout.ms (${age} ms) and ended fenced (${describe(err)}); nothing of it committed`,
      { cause: err, origin: "broker", brokerCode: asRdError(err).code },
    );
  }

  /** After an ambiguous fence: no producer is initialised until resolveIdentityDoubt(). */
  get inDoubt(): boolean {
    return this.identityInDoubt;
  }

  /**
   * Ends the doubt of an ambiguous fence: `takenOver` when another live process uses this
   * identity (this one is stale: it is fenced for good), else producers may open again.
   */
  resolveIdentityDoubt(takenOver: boolean): void {
    if (!takenOver) {
      this.identityInDoubt = false;
      return;
    }
    this.fenced = new FencedError(
      `transactional.id "${this.o.transactionalId}" is used by another live process (a member of group "${this.o.groupId}" ` +
        `carries its identity) while this one was paused past transaction.timeout.ms; this stale process stops and leaves the work to it`,
    );
    throw this.fenced;
  }

  private producerFenced(err: unknown): FencedError {
    this.fenced = new FencedError(
      `transactional.id "${this.o.transactionalId}" is in use by a newer producer (${describe(err)}); ` +
        `this process can no longer commit`,
      { cause: err, origin: "broker", brokerCode: asRdError(err).code },
    );
    void this.discard();
    return this.fenced;
  }

  private onOpenFailure(err: unknown): Error {
    const rd = asRdError(err);
    if (classifyTxnError(rd) === "producer-fenced") return this.producerFenced(err);
    return new KafkaRetryableError(`transactional producer not ready: ${describe(err)}`, { cause: err });
  }
}
