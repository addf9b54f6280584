/**
 * Pre-production of the backlog: N invocation records in KVO's record format
 * (docs/record-format.md: key `Device/device-<i % K>`, header `kvo-handler: record`, value the
 * JSON input `{"v": x}`) written to `<app>.invocations` before any runtime runs.
 *
 * Written with the benchmarks' producer (../bench_producer.ts): idempotent, so a retried batch
 * can neither duplicate nor reorder records of a key (the exactness check relies on that).
 */
import { BenchProducer } from "../bench_producer.js";
import { deviceKey, ExpectedStates, HANDLER, JavaRandom, OBJECT, SEED, VALUE_BOUND } from "./workload.js";

export interface Produced {
  expected: ExpectedStates;
  seconds: number;
}

export async function produceBacklog(brokers: string[], topic: string, records: number, keys: number): Promise<Produced> {
  const producer = new BenchProducer(brokers, { lingerMs: 20, clientId: "kvo-bench-backlog-producer", pollIntervalMs: 50 });
  await producer.connect();

  const expected = new ExpectedStates(keys);
  const random = new JavaRandom(SEED);
  const headers = [{ "kvo-handler": HANDLER }];
  const started = performance.now();
  try {
    for (let i = 0; i < records; i++) {
      const v = random.nextInt(VALUE_BOUND);
      await producer.send(topic, `${OBJECT}/${deviceKey(i, keys)}`, Buffer.from(`{"v": ${v}}`), null, headers);
      expected.add(i % keys, v);
    }
  } finally {
    await producer.close();
  }
  return { expected, seconds: (performance.now() - started) / 1000 };
}
