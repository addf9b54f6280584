/**
 * Pre-production of the backlog: N invocation records in KVO's record format
 * (docs/record-format.md: key `Device/device-<i % K>`, header `kvo-handler: record`, value the
 * JSON input `{"v": x}`) written to `<app>.invocations` before any runtime runs.
 *
 * librdkafka's own producer, fire-and-forget with large batches (no await per record), and
 * idempotent so a retried batch can neither duplicate nor reorder records of a key: the
 * exactness check relies on every key's records arriving once and in production order.
 * Partitioning is murmur2 of the key, as the runtime and every other Kafka producer do.
 */
import { RdKafka } from "@confluentinc/kafka-javascript";
import { deviceKey, ExpectedStates, HANDLER, JavaRandom, OBJECT, SEED, VALUE_BOUND } from "./workload.js";

export interface Produced {
  expected: ExpectedStates;
  seconds: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function isQueueFull(err: unknown): boolean {
  return (err as { code?: number })?.code === RdKafka.CODES.ERRORS.ERR__QUEUE_FULL;
}

export async function produceBacklog(brokers: string[], topic: string, records: number, keys: number): Promise<Produced> {
  const producer = new RdKafka.Producer(
    {
      "bootstrap.servers": brokers.join(","),
      "client.id": "kvo-bench-backlog-producer",
      "enable.idempotence": true,
      "linger.ms": 20,
      "batch.size": 1_000_000,
      "batch.num.messages": 100_000,
      "queue.buffering.max.messages": 500_000,
      "queue.buffering.max.kbytes": 512 * 1024,
      dr_cb: true,
    },
    // topic-level settings must go here (see connectors/kafka/rdkafka.ts newConsumer)
    { partitioner: "murmur2_random" },
  );
  let delivered = 0;
  // set from the delivery callback (a holder object: TypeScript does not see callback writes to a let)
  const failure: { first: Error | null } = { first: null };
  producer.on("delivery-report", (err) => {
    if (err) failure.first ??= err instanceof Error ? err : new Error(`delivery failed: ${JSON.stringify(err)}`);
    else delivered++;
  });
  await new Promise<void>((resolve, reject) => producer.connect({ timeout: 30_000 }, (err) => (err ? reject(err) : resolve())));
  producer.setPollInterval(50);

  const expected = new ExpectedStates(keys);
  const random = new JavaRandom(SEED);
  const headers = [{ "kvo-handler": HANDLER }];
  const started = performance.now();
  try {
    for (let i = 0; i < records; i++) {
      if (failure.first) throw failure.first;
      const v = random.nextInt(VALUE_BOUND);
      const key = Buffer.from(`${OBJECT}/${deviceKey(i, keys)}`);
      const value = Buffer.from(`{"v": ${v}}`);
      for (;;) {
        try {
          producer.produce(topic, null, value, key, null, null, headers);
          break;
        } catch (err) {
          if (!isQueueFull(err)) throw err;
          await sleep(5); // librdkafka's queue is full: let the poll loop drain delivery reports
        }
      }
      expected.add(i % keys, v);
    }
    await new Promise<void>((resolve, reject) => producer.flush(120_000, (err) => (err ? reject(err) : resolve())));
    // delivery reports are served by the poll interval; wait for the last ones
    const deadline = Date.now() + 30_000;
    while (delivered < records && !failure.first && Date.now() < deadline) await sleep(10);
    if (failure.first) throw failure.first;
    if (delivered !== records) throw new Error(`producing the backlog: ${delivered} of ${records} records were acknowledged after flush`);
  } finally {
    await new Promise<void>((resolve) => producer.disconnect(5_000, () => resolve()));
  }
  return { expected, seconds: (performance.now() - started) / 1000 };
}
