/**
 * The runtime side of the core benchmark, run as its own process (as a deployment would):
 * `Bench.add` does three ctx.run steps and one state update (the Restate peer's workload);
 * `Bench.bump` does only the state update. Prints {"event":"ready"} and, on SIGUSR2, its stats.
 */
import { createRuntime, object } from "../../../index.js";

export const bench = object({
  name: "Bench",
  handlers: {
    add: async (ctx, n: number) => {
      const a = await ctx.run("one", () => n);
      const b = await ctx.run("two", () => a + 1);
      const c = await ctx.run("three", () => b + 1);
      const count = ((await ctx.get<number>("count")) ?? 0) + c;
      ctx.set("count", count);
      return count;
    },
    bump: async (ctx, n: number) => {
      const count = ((await ctx.get<number>("count")) ?? 0) + n;
      ctx.set("count", count);
      return count;
    },
  },
});

const runtime = createRuntime({
  app: process.env.KVO_APP!,
  objects: [bench],
  partitions: Number(process.env.KVO_PARTITIONS ?? 4),
  kafka: {
    brokers: process.env.KVO_BOOTSTRAP_SERVERS!.split(","),
    instanceId: "bench-0",
    // librdkafka overrides for tuning experiments, e.g. KVO_BENCH_RDKAFKA='{"retry.backoff.ms":2}'
    ...(process.env.KVO_BENCH_RDKAFKA && {
      rdkafka: JSON.parse(process.env.KVO_BENCH_RDKAFKA) as Record<string, string | number | boolean>,
    }),
  },
});
await runtime.start();
process.on("SIGUSR2", () => process.stdout.write(JSON.stringify({ event: "stats", ...runtime.stats() }) + "\n"));
process.on("SIGTERM", () => void runtime.stop().then(() => process.exit(0)));
process.stdout.write(JSON.stringify({ event: "ready" }) + "\n");
