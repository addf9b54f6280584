import { randomUUID } from "node:crypto";
import { KafkaJS } from "@confluentinc/kafka-javascript";
import type { ClientOf, Definition, ObjectDefinition, ServiceDefinition } from "../../sdk/definitions.js";
import { ConfigurationError } from "../../sdk/errors.js";
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
  ) {}

  static async connect(options: ClientOptions): Promise<KvoClient> {
    const names = topicNames(options.app);
    const replyTopic = options.replyTopic ?? `${options.app}.replies`;
    const kafka = new KafkaJS.Kafka({ kafkaJS: { brokers: options.brokers, clientId: `kvo-client-${options.app}`, logLevel: KafkaJS.logLevel.ERROR } });
    const admin = kafka.admin();
    await admin.connect();
    try {
      const existing = await admin.listTopics();
      if (!existing.includes(names.invocations) && !options.invocationsTopic) {
        throw new ConfigurationError(`topic ${names.invocations} does not exist: start a runtime of app "${options.app}" first (it creates its topics)`);
      }
      if (!existing.includes(replyTopic)) {
        await admin.createTopics({ topics: [{ topic: replyTopic, numPartitions: 1, configEntries: [{ name: "retention.ms", value: String(3600_000) }] }] }).catch((e: Error) => {
          if (!/already exists/i.test(e.message)) throw e;
        });
      }
    } finally {
      await admin.disconnect();
    }
    const producer = kafka.producer({ kafkaJS: { idempotent: true }, "linger.ms": 0 });
    // A private group that never commits: it only needs records produced from now on.
    const consumer = kafka.consumer({ kafkaJS: { groupId: `kvo-client-${randomUUID()}`, fromBeginning: false, autoCommit: false, readUncommitted: false } });
    await producer.connect();
    await consumer.connect();
    await consumer.subscribe({ topics: [replyTopic] });
    const client = new KvoClient(
      { app: options.app, timeoutMs: options.timeoutMs ?? 30_000, replyTopic, invocationsTopic: options.invocationsTopic ?? names.invocations },
      producer,
      consumer,
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

  /** Sends without waiting for the outcome; resolves once the record is in Kafka. */
  async send(target: string, key: string | null, handler: string, input?: unknown, options: Omit<CallOptions, "timeoutMs"> = {}): Promise<void> {
    await this.producer.send({ topic: this.options.invocationsTopic, messages: [this.record(target, key, handler, input, options, null)] });
  }

  /** Calls a handler by name and waits for its outcome. */
  async call(target: string, key: string | null, handler: string, input?: unknown, options: CallOptions = {}): Promise<unknown> {
    const correlationId = randomUUID();
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs;
    const reply = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(correlationId);
        reject(new ReplyTimeoutError(`no reply from ${target}${key === null ? "" : `/${key}`}.${handler} within ${timeoutMs} ms (correlation ${correlationId}); the invocation is durable and may still complete`));
      }, timeoutMs);
      this.waiters.set(correlationId, { resolve, reject, timer });
    });
    try {
      await this.producer.send({ topic: this.options.invocationsTopic, messages: [this.record(target, key, handler, input, options, correlationId)] });
    } catch (e) {
      const w = this.waiters.get(correlationId);
      if (w) clearTimeout(w.timer);
      this.waiters.delete(correlationId);
      throw e;
    }
    return reply;
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

  private proxy<D extends Definition>(definition: D, key: string | null, options: CallOptions): ClientOf<D> {
    const out: Record<string, (input?: unknown) => Promise<unknown>> = {};
    for (const handler of Object.keys(definition.handlers)) out[handler] = (input) => this.call(definition.name, key, handler, input, options);
    return out as ClientOf<D>;
  }

  private record(target: string, key: string | null, handler: string, input: unknown, options: CallOptions, correlationId: string | null): KafkaJS.Message {
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
    const value = message.value && message.value.length > 0 ? JSON.parse(message.value.toString("utf8")) : undefined;
    if (header(H.status) === "ok") waiter.resolve(value);
    else waiter.reject(new InvocationFailedError(header(H.invocationId) ?? "?", header(H.errorCode) ?? "unknown", header(H.errorMessage) ?? "failed"));
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
      await this.producer.send({ topic: this.options.replyTopic, messages: [{ key: probe, value: null, headers: { [H.correlationId]: probe } }] });
      for (let i = 0; i < 20 && !this.ready; i++) await new Promise((r) => setTimeout(r, 25));
    }
    this.probes.clear();
  }
}

/** Connects a client of one app (see KvoClient). */
export function connectClient(options: ClientOptions): Promise<KvoClient> {
  return KvoClient.connect(options);
}
