/**
 * Restore benchmark: `npm run bench -- restore [--reps N] [--sizes 10000,100000]`.
 *
 * How long a process takes to own its partitions again when the changelog holds N state
 * values (the cost of a restart or a rebalance, since state lives in memory). The changelog is
 * filled with N `st` records in the runtime's own format, on the partition of each object
 * key, then a runtime starts and the time from start() to the last "partition.restored" event
 * is measured, plus the heap the state takes. Afterwards a few keys are read back through the
 * typed client to check the restore is right. One JSON line per size (medians of the reps).
 */
import { randomUUID } from "node:crypto";
import kafkajs from "kafkajs";
import { ensureInfra } from "../../../compose/infra/infra.js";
import { encodeChangelogKey } from "../../../runtime/codec/changelog_key.js";
import { codecs } from "../../../runtime/codec/records.js";
import { connectClient, createRuntime, object, shared } from "../../../index.js";
import { median, round as roundTo } from "../stats.js";

const { Kafka, logLevel, Partitioners } = kafkajs;
const PARTITIONS = 4;

const box = object({
  name: "Box",
  handlers: {
    put: async (ctx, v: number) => void ctx.set("v", v),
    get: shared(async (ctx) => (await ctx.get<number>("v")) ?? null),
  },
});

const round = (x: number) => roundTo(x, 2);
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

async function fillChangelog(brokers: string[], topic: string, count: number): Promise<void> {
  const kafka = new Kafka({ clientId: "kvo-bench-restore", brokers, logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ idempotent: true });
  const partitionOf = Partitioners.DefaultPartitioner();
  const partitionMetadata = Array.from({ length: PARTITIONS }, (_, i) => ({
    partitionId: i,
    leader: 1,
    replicas: [1],
    isr: [1],
    partitionErrorCode: 0,
  }));
  await producer.connect();
  try {
    for (let i = 0; i < count; i += 5_000) {
      const messages = [];
      for (let k = i; k < Math.min(count, i + 5_000); k++) {
        // the changelog partition of an object is the invocations partition of "Box/<key>"
        const partition = partitionOf({ topic, partitionMetadata, message: { key: `Box/k${k}`, value: null } });
        messages.push({
          partition,
          key: encodeChangelogKey({ type: "st", object: "Box", key: `k${k}`, name: "v" }),
          value: codecs.stateValue.encode({ value: Buffer.from(JSON.stringify(k)) }),
        });
      }
      await producer.send({ topic, messages });
    }
  } finally {
    await producer.disconnect();
  }
}

async function once(brokers: string[], size: number): Promise<Record<string, number>> {
  const app = `bench-restore-${Date.now().toString(36)}-${randomUUID().slice(0, 6)}`;
  const options = { app, objects: [box], partitions: PARTITIONS, logger: quiet };
  // creates the topics
  const creator = createRuntime({ ...options, kafka: { brokers, instanceId: "creator" } });
  await creator.start();
  await creator.stop();
  await fillChangelog(brokers, `${app}.changelog`, size);

  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const runtime = createRuntime({ ...options, kafka: { brokers, instanceId: "restorer" } });
  const restored = new Set<number>();
  let records = 0;
  let allRestored!: () => void;
  const done = new Promise<void>((r) => (allRestored = r));
  runtime.on("partition.restored", (e) => {
    restored.add(e.partition);
    records += e.changelogRecords;
    if (restored.size === PARTITIONS) allRestored();
  });
  const t0 = performance.now();
  await runtime.start();
  await done;
  const ms = performance.now() - t0;
  global.gc?.();
  const heapMb = (process.memoryUsage().heapUsed - heapBefore) / 1e6;

  const client = await connectClient({ app, brokers });
  try {
    for (const k of [0, Math.floor(size / 2), size - 1]) {
      const got = await client.object(box, `k${k}`).get();
      if (got !== k) throw new Error(`restore is wrong: Box/k${k} reads ${JSON.stringify(got)}, expected ${k}`);
    }
  } finally {
    await client.close();
    await runtime.stop();
  }
  if (records !== size) throw new Error(`restored ${records} changelog records, expected ${size}`);
  return { restore_ms: ms, records_per_s: size / (ms / 1000), heap_mb: heapMb };
}

export async function main(args: string[]): Promise<void> {
  const arg = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const reps = Number(arg("--reps") ?? 3);
  const sizes = (arg("--sizes") ?? "10000,100000").split(",").map(Number);
  let brokers = (process.env.KVO_BOOTSTRAP_SERVERS ?? "").split(",").filter(Boolean);
  if (brokers.length === 0) {
    const endpoints = await ensureInfra({ log: (line) => process.stderr.write(`[infra] ${line}\n`) });
    brokers = endpoints.bootstrapServers.split(",");
  }
  for (const size of sizes) {
    const runs: Array<Record<string, number>> = [];
    for (let rep = 1; rep <= reps; rep++) {
      const r = await once(brokers, size);
      process.stderr.write(`size ${size} rep ${rep}: ${JSON.stringify(r)}\n`);
      runs.push(r);
    }
    const out: Record<string, unknown> = { scenario: `restore-${size}`, state_values: size, partitions: PARTITIONS, reps };
    for (const k of Object.keys(runs[0]!)) out[`${k}`] = round(median(runs.map((r) => r[k]!)));
    process.stdout.write(JSON.stringify(out) + "\n");
  }
}
