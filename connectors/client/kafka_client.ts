import { randomUUID } from "node:crypto";
import { KafkaJS } from "@confluentinc/kafka-javascript";
import { handlersOf, type ClientOf, type Definition, type ObjectDefinition, type ServiceDefinition } from "../../sdk/definitions.js";
import { ConfigurationError, KvoError, SerializationError } from "../../sdk/errors.js";
import { awakeableIdProblem, parseAwakeableId } from "../../runtime/invocation/awakeable_id.js";
import { AWAKEABLE_HEADER } from "../../runtime/invocation/awakeable_record.js";
import { invocationId } from "../../runtime/invocation/envelope.js";
import { H } from "../../runtime/invocation/headers.js";
import { topicNames } from "../../runtime/runtime.js";
import { InvocationFailedError, ReplyTimeoutError } from "./errors.js";

export interface ClientOptions {
  /** The app to call: its invocations topic is `<app>.invocations`. */
  app: string;
  brokers: string[];
  /** Topic replies come back on; created with 1 partition when missing. Default `<app>.replies`. */
  replyTopic?: string;
  invocationsTopic?: string;
  /** How long a call waits for its reply (default 30 s). */
  timeoutMs?: number;
}

export interface CallOptions {
  /** Same key → the same invocation: it runs once and every caller gets its outcome. */
  idempotencyKey?: string;
  headers?: Record<string, string>;
  timeoutMs?: number;
  /**
   * Called once the invocation record is in Kafka, with the invocation's id: what
   * `cancel()` needs while the call is still waiting for its outcome.
   */
  onSent?: (invocationId: string) => void;
}

export interface CancelOptions {
  /**
   * The target and key the invocation was called with, e.g. `{ target: account, key: "acc-42" }`
   * (for a service: its idempotency key, or null). Needed only for ids of calls with an
   * idempotency key (`ik-…`), which do not name their partition; ids `p<partition>-o<offset>` do.
   */
  route?: { target: string | Definition; key: string | null };
  /** How long to wait for the runtime's answer (default: the client's timeoutMs). */
  timeoutMs?: number;
}

interface Waiter {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * Calls handlers over Kafka: each call is a record on `<app>.invocations` (the documented
 * record format) naming a reply topic; the outcome comes back on that topic. Typed clients
 * are derived from the definitions: `client.object(counter, "k").add(1)`.
 */
export class KvoClient {
  private readonly waiters = new Map<string, Waiter>();
  private readonly probes = new Set<string>();
  private ready = false;

  private constructor(
    private readonly options: Required<Pick<ClientOptions, "app" | "timeoutMs">> & { replyTopic: string; invocationsTopic: string },
    private readonly producer: KafkaJS.Producer,
    private readonly consumer: KafkaJS.Consumer,
    /** Partitions of the invocations topic when last looked up (null: not known); see awakeablePartition. */
    private invocationPartitions: number | null = null,
    /** Looks the partition count of the invocations topic up again (null: the topic does not exist). */
    private readonly lookUpInvocationPartitions: () => Promise<number | null> = async () => null,
  ) {}

  static async connect(options: ClientOptions): Promise<KvoClient> {
    const names = topicNames(options.app);
    const replyTopic = options.replyTopic ?? `${options.app}.replies`;
    const kafka = new KafkaJS.Kafka({
      kafkaJS: { brokers: options.brokers, clientId: `kvo-client-${options.app}`, logLevel: KafkaJS.logLevel.ERROR },
    });
    const invocationsTopic = options.invocationsTopic ?? names.invocations;
    let invocationPartitions: number | null = null;
    const admin = kafka.admin();
    await admin.connect();
    try {
      const existing = await admin.listTopics();
      if (existing.includes(invocationsTopic)) invocationPartitions = await partitionCount(admin, invocationsTopic);
      if (!existing.includes(names.invocations) && !options.invocationsTopic) {
        throw new ConfigurationError(
          `topic ${names.invocations} does not exist: start a runtime of app "${options.app}" first (it creates its topics)`,
        );
      }
      if (!existing.includes(replyTopic)) {
        await admin
          .createTopics({
            topics: [{ topic: replyTopic, numPartitions: 1, configEntries: [{ name: "retention.ms", value: String(3600_000) }] }],
          })
          .catch((e: Error) => {
            if (!/already exists/i.test(e.message)) throw e;
          });
      }
    } finally {
      await admin.disconnect();
    }
    const producer = kafka.producer({ kafkaJS: { idempotent: true }, "linger.ms": 0 });
    // A private group that never commits: it only needs records produced from now on.
    const consumer = kafka.consumer({
      kafkaJS: { groupId: `kvo-client-${randomUUID()}`, fromBeginning: false, autoCommit: false, readUncommitted: false },
    });
    await producer.connect();
    await consumer.connect();
    await consumer.subscribe({ topics: [replyTopic] });
    const client = new KvoClient(
      { app: options.app, timeoutMs: options.timeoutMs ?? 30_000, replyTopic, invocationsTopic },
      producer,
      consumer,
      invocationPartitions,
      () => withAdmin(kafka, (a) => partitionCount(a, invocationsTopic)),
    );
    await consumer.run({ eachMessage: async ({ message }) => client.onReply(message) });
    await client.waitUntilReading();
    return client;
  }

  /** Typed client of one object key. */
  object<D extends ObjectDefinition>(definition: D, key: string, options: CallOptions = {}): ClientOf<D> {
    return this.proxy(definition, key, options);
  }

  /** Typed client of a service. */
  service<D extends ServiceDefinition>(definition: D, options: CallOptions = {}): ClientOf<D> {
    return this.proxy(definition, null, options);
  }

  /**
   * Sends without waiting for the outcome; resolves once the record is in Kafka.
   * `key`: the object key; for a service a routing key (record key `<Service>/<key>`, see
   * serviceRoutingKey), or null for the record key `<Service>`, which puts every such call on
   * one partition. The typed `service()` client picks routing keys itself.
   */
  async send(
    target: string,
    key: string | null,
    handler: string,
    input?: unknown,
    options: Omit<CallOptions, "timeoutMs" | "onSent"> = {},
  ): Promise<string> {
    const sent = await this.producer.send({
      topic: this.options.invocationsTopic,
      messages: [this.record(target, key, handler, input, options, null)],
    });
    return this.invocationIdOf(sent, target, key, handler, options.idempotencyKey);
  }

  /** Calls a handler by name and waits for its outcome (`key` as for send). */
  async call(target: string, key: string | null, handler: string, input?: unknown, options: CallOptions = {}): Promise<unknown> {
    const correlationId = randomUUID();
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs;
    const what = `${target}${key === null ? "" : `/${key}`}.${handler}`;
    const message = this.record(target, key, handler, input, options, correlationId);
    return this.roundTrip(
      message,
      correlationId,
      timeoutMs,
      `no reply from ${what} within ${timeoutMs} ms (correlation ${correlationId}); the invocation is durable and may still complete`,
      (sent) => options.onSent?.(this.invocationIdOf(sent, target, key, handler, options.idempotencyKey)),
    );
  }

  /**
   * Cancels an invocation wherever it runs, by a `kvo-cancel` record on the invocations topic
   * (docs/record-format.md): it fails with code `cancelled` (its callers get that failure, its
   * state writes are discarded, the next invocation of its key starts), whether it is running,
   * waiting for a retry or queued. Resolves true once the cancellation is committed, false when
   * the invocation was not in flight (already finished, or unknown). Ids come from `send()`,
   * `onSent`, `InvocationFailedError.invocationId` or the reply header `kvo-invocation-id`.
   */
  async cancel(id: string, options: CancelOptions = {}): Promise<boolean> {
    const correlationId = randomUUID();
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs;
    const message = this.cancelRecord(id, options.route, correlationId);
    try {
      await this.roundTrip(
        message,
        correlationId,
        timeoutMs,
        `no answer to the cancellation of invocation ${id} within ${timeoutMs} ms (correlation ${correlationId}); it is durable and may still be applied`,
      );
      return true;
    } catch (e) {
      if (e instanceof InvocationFailedError && e.code === "not_in_flight") return false;
      throw e;
    }
  }

  /**
   * Completes an awakeable with `value` (JSON; `undefined` arrives as null): produces the
   * awakeable resolution record of docs/record-format.md to the partition the id names.
   * Resolves once the record is in Kafka. The waiting invocation takes the first completion
   * of its awakeable; one that is no longer pending (already completed, its invocation ended,
   * an id of another app) changes nothing and is dead-lettered there with `unknown_awakeable`.
   * Throws KvoError `invalid_awakeable` for an id that is not `awk.<partition>.<entry>.<…>` or
   * names a partition the invocations topic does not have.
   */
  async resolveAwakeable(id: string, value?: unknown): Promise<void> {
    const partition = await this.awakeablePartition(id, "resolveAwakeable");
    let text: string | undefined;
    try {
      text = JSON.stringify(value);
    } catch (e) {
      throw new SerializationError(`resolveAwakeable("${id}"): the value is not JSON-serializable: ${(e as Error).message}`, {
        cause: e,
      });
    }
    await this.producer.send({
      topic: this.options.invocationsTopic,
      messages: [{ key: id, value: text ?? null, partition, headers: { [AWAKEABLE_HEADER]: id } }],
    });
  }

  /**
   * Fails an awakeable: the waiting handler's await throws a TerminalError with `message` and
   * `code` (default `awakeable_rejected`, set by the runtime). Otherwise as resolveAwakeable.
   */
  async rejectAwakeable(id: string, message: string, code?: string): Promise<void> {
    const partition = await this.awakeablePartition(id, "rejectAwakeable");
    if (message.length === 0) {
      throw new KvoError(`rejectAwakeable("${id}"): the message is empty; say why the awakeable is rejected`, INVALID_AWAKEABLE);
    }
    const headers: Record<string, string> = { [AWAKEABLE_HEADER]: id, [H.status]: "failed", [H.errorMessage]: message };
    if (code !== undefined) {
      if (code.length === 0) {
        throw new KvoError(`rejectAwakeable("${id}"): the error code is empty; omit it for the default`, INVALID_AWAKEABLE);
      }
      headers[H.errorCode] = code;
    }
    await this.producer.send({ topic: this.options.invocationsTopic, messages: [{ key: id, value: null, partition, headers }] });
  }

  async close(): Promise<void> {
    for (const w of this.waiters.values()) {
      clearTimeout(w.timer);
      w.reject(new ReplyTimeoutError("client closed before the reply arrived"));
    }
    this.waiters.clear();
    await this.consumer.disconnect().catch(() => undefined);
    await this.producer.disconnect().catch(() => undefined);
  }

  /** `key` null: a service, whose calls get a routing key each (serviceRoutingKey). */
  private proxy<D extends Definition>(definition: D, key: string | null, options: CallOptions): ClientOf<D> {
    const out: Record<string, (input?: unknown) => Promise<unknown>> = {};
    for (const handler of Object.keys(handlersOf(definition))) {
      out[handler] = (input) => this.call(definition.name, key ?? serviceRoutingKey(options.idempotencyKey), handler, input, options);
    }
    return out as ClientOf<D>;
  }

  private record(
    target: string,
    key: string | null,
    handler: string,
    input: unknown,
    options: CallOptions,
    correlationId: string | null,
  ): KafkaJS.Message {
    const headers: Record<string, string> = { ...(options.headers ?? {}), [H.handler]: handler };
    if (correlationId) {
      headers[H.replyTo] = this.options.replyTopic;
      headers[H.correlationId] = correlationId;
    }
    if (options.idempotencyKey) headers[H.idempotencyKey] = options.idempotencyKey;
    return {
      key: key === null ? target : `${target}/${key}`,
      value: input === undefined ? null : JSON.stringify(input),
      headers,
    };
  }

  /**
   * Produces `message` (which names this client's reply topic and `correlationId`) and waits
   * for the reply: resolves with its value, rejects with InvocationFailedError or, after
   * `timeoutMs`, ReplyTimeoutError. `onSent` sees the producer's report of where it went.
   */
  private async roundTrip(
    message: KafkaJS.Message,
    correlationId: string,
    timeoutMs: number,
    timeoutMessage: string,
    onSent?: (sent: KafkaJS.RecordMetadata[] | undefined) => void,
  ): Promise<unknown> {
    const reply = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(correlationId);
        reject(new ReplyTimeoutError(timeoutMessage));
      }, timeoutMs);
      this.waiters.set(correlationId, { resolve, reject, timer });
    });
    try {
      const sent = await this.producer.send({ topic: this.options.invocationsTopic, messages: [message] });
      onSent?.(sent);
    } catch (e) {
      const w = this.waiters.get(correlationId);
      if (w) clearTimeout(w.timer);
      this.waiters.delete(correlationId);
      throw e;
    }
    return reply;
  }

  /**
   * The partition an awakeable id names: its resolution record is produced there explicitly
   * (its key does not route it). A malformed id, or one naming a partition the invocations
   * topic does not have, is refused here rather than left to the runtime's DLQ, where the
   * caller would never hear of it.
   */
  private async awakeablePartition(id: string, method: string): Promise<number> {
    const parts = parseAwakeableId(id);
    if (!parts) throw new KvoError(`${method}: ${awakeableIdProblem(id) ?? "malformed awakeable id"}`, INVALID_AWAKEABLE);
    // The partition count is read at connect; a larger partition is checked again, since
    // partitions may have been added since (they are never removed).
    if (this.invocationPartitions !== null && parts.partition < this.invocationPartitions) return parts.partition;
    this.invocationPartitions = await this.lookUpInvocationPartitions();
    if (this.invocationPartitions !== null && parts.partition >= this.invocationPartitions) {
      throw new KvoError(
        `${method}("${id}"): the id names partition ${parts.partition}, but ${this.options.invocationsTopic} has ` +
          `${this.invocationPartitions} partitions: the awakeable belongs to another app (this client is for "${this.options.app}") ` +
          `or the id was altered`,
        INVALID_AWAKEABLE,
      );
    }
    return parts.partition;
  }

  /**
   * The cancel record must land on the invocation's partition: `p<partition>-o<offset>` names
   * it; an idempotent id is a hash, so the record is keyed like the call was.
   */
  private cancelRecord(id: string, route: CancelOptions["route"], correlationId: string): KafkaJS.Message {
    const headers = { [H.cancel]: id, [H.replyTo]: this.options.replyTopic, [H.correlationId]: correlationId };
    const position = /^p(\d+)-o\d+$/.exec(id);
    if (position) return { key: id, value: null, headers, partition: Number(position[1]) };
    if (!route) {
      throw new ConfigurationError(
        `cancel("${id}"): this id does not name its partition (the call had an idempotency key); pass the route it was called with, ` +
          `e.g. client.cancel(id, { route: { target: "Account", key: "acc-42" } }) (for a service: key = its idempotency key)`,
      );
    }
    const target = typeof route.target === "string" ? route.target : route.target.name;
    return { key: route.key === null ? target : `${target}/${route.key}`, value: null, headers };
  }

  /**
   * The id the runtime gives the invocation a record starts: from the idempotency key and the
   * routing key when there is one (runtime/invocation/envelope.ts), else from the record's
   * position, which the producer reports.
   */
  private invocationIdOf(
    sent: KafkaJS.RecordMetadata[] | undefined,
    target: string,
    key: string | null,
    handler: string,
    idempotencyKey: string | undefined,
  ): string {
    if (idempotencyKey) return invocationId(0, 0n, target, key, handler, idempotencyKey);
    const at = sent?.[0];
    const offset = at?.baseOffset ?? at?.offset;
    if (!at || offset === undefined) {
      throw new KvoError(
        `the producer did not report where the invocation record of ${target}.${handler} was written; its invocation id is unknown`,
        { code: "invocation_id_unknown", retryable: false },
      );
    }
    return `p${at.partition}-o${offset}`;
  }

  private onReply(message: KafkaJS.KafkaMessage): void {
    const header = (name: string) => {
      const v = message.headers?.[name];
      return v === undefined ? undefined : Array.isArray(v) ? String(v[0]) : String(v);
    };
    const correlationId = header(H.correlationId);
    if (!correlationId) return;
    if (this.probes.delete(correlationId)) {
      this.ready = true;
      return;
    }
    const waiter = this.waiters.get(correlationId);
    if (!waiter) return;
    this.waiters.delete(correlationId);
    clearTimeout(waiter.timer);
    const value: unknown = message.value && message.value.length > 0 ? JSON.parse(message.value.toString("utf8")) : undefined;
    if (header(H.status) === "ok") waiter.resolve(value);
    else {
      // The value holds the whole {code, message}; the header only a short form of the message.
      const failure = value as { code?: unknown; message?: unknown } | undefined;
      const fullMessage = typeof failure?.message === "string" ? failure.message : undefined;
      waiter.reject(
        new InvocationFailedError(
          header(H.invocationId) ?? "?",
          header(H.errorCode) ?? "unknown",
          fullMessage ?? header(H.errorMessage) ?? "failed",
        ),
      );
    }
  }

  /**
   * A new group starts at the end of the reply topic once its first fetch resolves the
   * position. Until a probe record written now is seen, replies could be skipped, so calls
   * wait for that.
   */
  private async waitUntilReading(): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (!this.ready) {
      if (Date.now() > deadline) throw new ReplyTimeoutError(`reply consumer on ${this.options.replyTopic} did not start within 30 s`);
      const probe = `probe-${randomUUID()}`;
      this.probes.add(probe);
      await this.producer.send({
        topic: this.options.replyTopic,
        messages: [{ key: probe, value: null, headers: { [H.correlationId]: probe } }],
      });
      for (let i = 0; i < 20 && !this.ready; i++) await new Promise((r) => setTimeout(r, 25));
    }
    this.probes.clear();
  }
}

const INVALID_AWAKEABLE = { code: "invalid_awakeable", retryable: false } as const;

async function withAdmin<T>(kafka: KafkaJS.Kafka, use: (admin: KafkaJS.Admin) => Promise<T>): Promise<T> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await use(admin);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** Partitions of `topic`, or null when it does not exist. */
async function partitionCount(admin: KafkaJS.Admin, topic: string): Promise<number | null> {
  try {
    const [metadata] = await admin.fetchTopicMetadata({ topics: [topic] });
    return metadata ? metadata.partitions.length : null;
  } catch (e) {
    if (/unknown topic|does not exist/i.test((e as Error).message)) return null;
    throw e;
  }
}

/**
 * What follows `<Service>/` in the record key of a service call. Kafka partitions by the whole
 * record key, so a fixed `<Service>` would put every call of the service on one partition; a
 * random routing key spreads them. A call with an idempotency key uses it as the routing key:
 * a re-sent call must reach the same partition and get the same invocation id (the id covers
 * the routing key, runtime/invocation/envelope.ts) to be deduplicated.
 */
export function serviceRoutingKey(idempotencyKey: string | undefined): string {
  return idempotencyKey || randomUUID();
}

/** Connects a client of one app (see KvoClient). */
export function connectClient(options: ClientOptions): Promise<KvoClient> {
  return KvoClient.connect(options);
}
