/**
 * A runtime process for the crash and fencing tests: `Counter.add` does two ctx.run steps
 * and a state update. Started as a child process (so it can be SIGKILLed / SIGSTOPped);
 * prints one JSON line per event on stdout.
 *
 * env: KVO_APP, KVO_BOOTSTRAP_SERVERS, KVO_INSTANCE_ID, KVO_PARTITIONS, STEP_DELAY_MS
 */
import { randomUUID } from "node:crypto";
import { createRuntime, object } from "../../../index.js";

const stepDelay = Number(process.env.STEP_DELAY_MS ?? 0);
const pause = () => (stepDelay > 0 ? new Promise((r) => setTimeout(r, stepDelay)) : undefined);

export const counter = object({
  name: "Counter",
  handlers: {
    add: async (ctx, input: { seq: number }) => {
      // A value unique to each execution of the step: later steps must see the recorded one.
      const token = await ctx.run("token", async () => (await pause(), randomUUID()));
      const echoed = await ctx.run("echo", async () => (await pause(), token));
      const count = ((await ctx.get<number>("count")) ?? 0) + 1;
      ctx.set("count", count);
      if (input.seq !== count) ctx.set(`order-violation-${input.seq}`, count);
      return { count, token, echoed };
    },
  },
});

const emit = (event: Record<string, unknown>) => process.stdout.write(JSON.stringify(event) + "\n");

const runtime = createRuntime({
  app: process.env.KVO_APP!,
  objects: [counter],
  partitions: Number(process.env.KVO_PARTITIONS ?? 4),
  kafka: {
    brokers: process.env.KVO_BOOTSTRAP_SERVERS!.split(","),
    instanceId: process.env.KVO_INSTANCE_ID!,
    sessionTimeoutMs: 6_000,
    transactionTimeoutMs: 10_000,
  },
  retry: { initialIntervalMs: 50, maxAttempts: 100 },
});

await runtime.start();
emit({ event: "started", pid: process.pid });
const timer = setInterval(() => emit({ event: "stats", ...runtime.stats() }), 500);
// A runtime that stops by itself (it can never commit again) says why, and the process exits.
void runtime.closed.then((error) => {
  if (!error) return;
  clearInterval(timer);
  emit({ event: "closed", code: (error as { code?: string }).code ?? "unknown", message: error.message });
  process.exit(3);
});
process.on("SIGTERM", () => {
  clearInterval(timer);
  void runtime.stop().then(() => {
    emit({ event: "stopped", ...runtime.stats() });
    process.exit(0);
  });
});
