/**
 * The benchmarks' workload producer, outside KVO: librdkafka's own producer, fire-and-forget
 * with large batches (no await per record), idempotent so that a retried batch can neither
 * duplicate nor reorder records of a key (the exactness checks rely on every key's records
 * arriving once and in production order). Partitioning is murmur2 of the key, as the runtime
 * and Java clients do. It retries on a full queue and checks every delivery on close().
 */
import { RdKafka } from "@confluentinc/kafka-javascript";

export type Headers = Array<Record<string, string>>;

export interface BenchProducerOptions {
  clientId: string;
  /** How long a record may wait in the client for a batch (1 for latency, 20 for throughput). */
  lingerMs: number;
  /** How often delivery reports are served, ms (default 20). */
  pollIntervalMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class BenchProducer {
  private readonly producer: RdKafka.Producer;
  private readonly pollIntervalMs: number;
  private readonly clientId: string;
  private sent = 0;
  private delivered = 0;
  // set from the delivery callback (a holder: TypeScript does not see callback writes to a let)
  private readonly failure: { first: Error | null } = { first: null };

  constructor(brokers: string[], o: BenchProducerOptions) {
    this.clientId = o.clientId;
    this.pollIntervalMs = o.pollIntervalMs ?? 20;
    this.producer = new RdKafka.Producer(
      {
        "bootstrap.servers": brokers.join(","),
        "client.id": o.clientId,
        "enable.idempotence": true,
        "linger.ms": o.lingerMs,
        "batch.size": 1_000_000,
        "batch.num.messages": 100_000,
        "queue.buffering.max.messages": 500_000,
        "queue.buffering.max.kbytes": 512 * 1024,
        dr_cb: true,
      },
      // topic-level settings must go here (see connectors/kafka/rdkafka.ts newConsumer)
      { partitioner: "murmur2_random" },
    );
    this.producer.on("delivery-report", (err) => {
      if (err) this.failure.first ??= err instanceof Error ? err : new Error(`delivery failed: ${JSON.stringify(err)}`);
      else this.delivered++;
    });
  }

  async connect(): Promise<void> {
    await new Promise<void>((resolve, reject) => this.producer.connect({ timeout: 30_000 }, (err) => (err ? reject(err) : resolve())));
    this.producer.setPollInterval(this.pollIntervalMs);
  }

  /** Hands one record to the client (throws the first failed delivery so far). */
  async send(topic: string, key: string, value: Buffer, timestamp: number | null, headers?: Headers): Promise<void> {
    if (this.failure.first) throw this.failure.first;
    for (;;) {
      try {
        this.producer.produce(topic, null, value, Buffer.from(key), timestamp, null, headers);
        this.sent++;
        return;
      } catch (err) {
        if ((err as { code?: number })?.code !== RdKafka.CODES.ERRORS.ERR__QUEUE_FULL) throw err;
        await sleep(5); // librdkafka's queue is full: let the poll loop drain delivery reports
      }
    }
  }

  /** Flushes and waits until every record sent is acknowledged, then disconnects. */
  async close(): Promise<void> {
    try {
      await new Promise<void>((resolve, reject) => this.producer.flush(120_000, (err) => (err ? reject(err) : resolve())));
      // delivery reports are served by the poll interval; wait for the last ones
      const deadline = Date.now() + 30_000;
      while (this.delivered < this.sent && !this.failure.first && Date.now() < deadline) await sleep(10);
      if (this.failure.first) throw this.failure.first;
      if (this.delivered !== this.sent)
        throw new Error(`${this.clientId}: ${this.delivered} of ${this.sent} records were acknowledged after flush`);
    } finally {
      await new Promise<void>((resolve) => this.producer.disconnect(5_000, () => resolve()));
    }
  }
}
