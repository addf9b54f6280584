/**
 * Reads the alerts topic read_committed, as a downstream consumer would: counts the alerts
 * per kind and finds duplicates (exactness), and measures the end-to-end latency of alerts
 * whose source record is recent enough (the latency phase).
 *
 * Latency = the moment a batch holding the alert is returned to this consumer (Date.now())
 * minus the source record's Kafka timestamp (the alert's bench-source-ts header, set by the
 * handler from ctx.request.source.timestamp; the paced producer sets that timestamp when it
 * hands the record to its client). It covers the producer's linger, the relay's transaction,
 * the runtime's consumption and transaction, and this consumer's fetch of a committed record:
 * the time until the effect is visible downstream. Both clocks are this machine's.
 */
import { RdKafka } from "@confluentinc/kafka-javascript";
import { consume, setConsumeTimeout, type Message } from "../../../connectors/kafka/rdkafka.js";
import { createAvroPayloads } from "../../../connectors/schema_registry/index.js";
import type { EgressFormat } from "./device.js";
import { ALERT_KINDS, SOURCE_TS_HEADER, type Alert, type AlertKind } from "./workload.js";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class AlertsReader {
  count = 0;
  duplicates = 0;
  readonly byKind: Record<AlertKind, number> = { high: 0, cleared: 0, rising: 0, maintenance: 0 };
  /** Latencies (ms) of alerts whose source timestamp is at or after `latencyFromMs`. */
  readonly latenciesMs: number[] = [];
  latencyFromMs = Number.POSITIVE_INFINITY;
  /** When the last alert was read (epoch ms). */
  lastReadAtMs = 0;
  private readonly seen = new Set<string>();
  private readonly payloads = createAvroPayloads();
  private stopped = false;
  private error: Error | null = null;
  private readonly loop: Promise<void>;

  private constructor(
    private readonly consumer: RdKafka.KafkaConsumer,
    private readonly egress: EgressFormat,
  ) {
    this.loop = this.run().catch((e: unknown) => void (this.error = e as Error));
  }

  /** Starts reading all `partitions` of `topic` from the beginning. */
  static async start(brokers: string[], topic: string, partitions: number, egress: EgressFormat): Promise<AlertsReader> {
    const consumer = new RdKafka.KafkaConsumer(
      {
        "bootstrap.servers": brokers.join(","),
        "group.id": `kvo-bench-alerts-${Date.now().toString(36)}`,
        "enable.auto.commit": false,
        "isolation.level": "read_committed",
        // a fetch returns as soon as a committed record is there; this bounds the wait otherwise
        "fetch.wait.max.ms": 10,
      },
      { "auto.offset.reset": "earliest" },
    );
    await new Promise<void>((resolve, reject) => consumer.connect({ timeout: 30_000 }, (err) => (err ? reject(err) : resolve())));
    consumer.assign(Array.from({ length: partitions }, (_, partition) => ({ topic, partition, offset: 0 })));
    setConsumeTimeout(consumer, 50);
    return new AlertsReader(consumer, egress);
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const batch = await consume(this.consumer, 1000);
      const receivedAt = Date.now();
      for (const m of batch) await this.take(m, receivedAt);
    }
  }

  private async take(m: Message, receivedAt: number): Promise<void> {
    if (!m.value) throw new Error(`alert at ${m.topic}[${m.partition}]@${m.offset} has no value`);
    const alert = (this.egress === "avro" ? (await this.payloads.decode(m.value)).value : JSON.parse(m.value.toString("utf8"))) as Alert;
    if (!ALERT_KINDS.includes(alert.kind)) throw new Error(`alert of unknown kind: ${JSON.stringify(alert)}`);
    const id = `${alert.seq}/${alert.kind}`;
    if (this.seen.has(id)) this.duplicates++;
    else this.seen.add(id);
    this.count++;
    this.lastReadAtMs = receivedAt;
    this.byKind[alert.kind]++;
    let sourceTs = Number.NaN;
    for (const h of m.headers ?? []) {
      const v = h[SOURCE_TS_HEADER];
      if (v !== undefined) sourceTs = Number(v.toString());
    }
    if (sourceTs >= this.latencyFromMs) this.latenciesMs.push(receivedAt - sourceTs);
  }

  /** Waits until `count` alerts were read; fails when none arrived for `stallMs`. */
  async until(count: number, stallMs: number): Promise<void> {
    let last = this.count;
    let movedAt = performance.now();
    while (this.count < count) {
      if (this.error) throw this.error;
      await sleep(20);
      if (this.count !== last) {
        last = this.count;
        movedAt = performance.now();
      } else if (performance.now() - movedAt > stallMs) {
        throw new Error(`read ${this.count} of the ${count} expected alerts and none arrived for ${Math.round(stallMs / 1000)} s`);
      }
    }
    if (this.error) throw this.error;
  }

  async close(): Promise<void> {
    this.stopped = true;
    await this.loop;
    await new Promise<void>((resolve) => this.consumer.disconnect(() => resolve()));
  }
}
