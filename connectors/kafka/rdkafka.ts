/**
 * Promise wrappers over @confluentinc/kafka-javascript's callback API (the node-rdkafka style
 * API, librdkafka underneath). Only this folder imports the client.
 */
import { RdKafka } from "@confluentinc/kafka-javascript";
import type { InboundRecord } from "../../runtime/log/log.js";

export { RdKafka };
export type Consumer = RdKafka.KafkaConsumer;
export type Producer = RdKafka.Producer;
export type Message = RdKafka.Message;
export type Config = Record<string, string | number | boolean | ((...args: never[]) => unknown)>;

/** librdkafka's "no committed offset" marker. */
export const OFFSET_INVALID = -1001;
export const OFFSET_BEGINNING = -2;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function cb<T>(resolve: (v: T) => void, reject: (e: unknown) => void) {
  return (err: unknown, value?: T): void => {
    if (err) reject(err);
    else resolve(value as T);
  };
}

/**
 * Topic-level settings (auto.offset.reset, partitioner) go in `topic`: the binding always
 * passes a topic configuration, and a topic-level property given only in the global one is
 * silently replaced by its default (seen: auto.offset.reset=earliest in the global config
 * ended as "latest", so records written right after an assignment were skipped).
 */
export function newConsumer(global: Config, topic: Config = {}): Consumer {
  return new RdKafka.KafkaConsumer(global, topic);
}

export function newProducer(global: Config, topic: Config = {}): Producer {
  return new RdKafka.Producer(global, topic);
}

export function connect(client: Consumer | Producer, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    client.connect({ timeout: timeoutMs }, (err) => (err ? reject(err) : resolve()));
  });
}

/** Closes a client; a producer first flushes for up to `timeoutMs`. */
export function disconnect(client: Consumer | Producer, timeoutMs = 5000): Promise<void> {
  if (!client.isConnected()) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs + 10_000);
    const done = (): void => {
      clearTimeout(timer);
      resolve();
    };
    if (client instanceof RdKafka.Producer) client.disconnect(timeoutMs, done);
    else client.disconnect(done);
  });
}

/**
 * consume(n) waits `timeoutMs` for the first message only and then returns what is ready. The
 * binding's default applies the timeout to every message of the batch, so a batch that
 * cannot fill up returned only after the timeout (+100 ms on every delivery here).
 */
export function setConsumeTimeout(consumer: Consumer, timeoutMs: number): void {
  consumer.setDefaultConsumeTimeout(timeoutMs);
  (consumer as unknown as { setDefaultIsTimeoutOnlyForFirstMessage(v: boolean): void }).setDefaultIsTimeoutOnlyForFirstMessage(true);
}

export function consume(consumer: Consumer, max: number): Promise<Message[]> {
  return new Promise((resolve, reject) => consumer.consume(max, cb(resolve, reject)));
}

export function committed(
  consumer: Consumer,
  partitions: RdKafka.TopicPartition[],
  timeoutMs: number,
): Promise<RdKafka.TopicPartitionOffsetAndMetadata[]> {
  return new Promise((resolve, reject) => consumer.committed(partitions, timeoutMs, cb(resolve, reject)));
}

export function watermarks(client: Consumer, topic: string, partition: number, timeoutMs: number): Promise<RdKafka.WatermarkOffsets> {
  return new Promise((resolve, reject) => {
    client.queryWatermarkOffsets(topic, partition, timeoutMs, cb(resolve, reject));
  });
}

export function initTransactions(producer: Producer, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => producer.initTransactions(timeoutMs, cb(resolve, reject)));
}

export function beginTransaction(producer: Producer): Promise<void> {
  return new Promise((resolve, reject) => producer.beginTransaction(cb(resolve, reject)));
}

export function sendOffsetsToTransaction(
  producer: Producer,
  offsets: RdKafka.TopicPartitionOffset[],
  consumer: Consumer,
  timeoutMs: number,
): Promise<void> {
  return new Promise((resolve, reject) => producer.sendOffsetsToTransaction(offsets, consumer, timeoutMs, cb(resolve, reject)));
}

export function commitTransaction(producer: Producer, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => producer.commitTransaction(timeoutMs, cb(resolve, reject)));
}

export function abortTransaction(producer: Producer, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => producer.abortTransaction(timeoutMs, cb(resolve, reject)));
}

/** A consumed message as the runtime sees it. */
export function toInbound(m: Message): InboundRecord {
  const headers: Record<string, Buffer> = {};
  if (m.headers) {
    for (const h of m.headers) {
      for (const k in h) {
        const v = h[k]!;
        headers[k] = typeof v === "string" ? Buffer.from(v) : v;
      }
    }
  }
  const key = m.key === undefined || m.key === null ? null : typeof m.key === "string" ? Buffer.from(m.key) : m.key;
  return {
    partition: m.partition,
    offset: BigInt(m.offset),
    key,
    value: m.value ?? null,
    headers,
    timestamp: m.timestamp ?? 0,
  };
}
