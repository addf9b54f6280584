/**
 * A runtime process for the broker-restart and fencing tests: `Counter.add` behaves exactly
 * like apps/counter_app.ts (two ctx.run steps, then count + 1; replies { count, token, echoed })
 * but every step result carries a marker saying WHO computed it and WHEN, so a test can find
 * a particular process's writes on the broker:
 *
 *   token = "<instanceId>|p<pauses>|<Z or ok>|<uuid>"
 *
 * `pauses` counts how often this process was frozen (SIGUSR2 to arm, then SIGSTOP ... SIGCONT)
 * for more than PAUSE_DETECT_MS; "Z" marks a result computed after such a wake-up and before
 * the runtime reported the loss of its partitions (a "fenced" or "partition.revoked" event):
 * work of a zombie, which must never become visible. The marker is taken when the step's
 * action finishes.
 *
 * Prints one JSON line per event on stdout: started, stats (every 500 ms), armed, woke, fenced
 * (message), revoked, commit_failed (code, message, attempt), restore_failed, closed. With
 * KVO_CHILD_LOG_FILE set, the runtime's log lines and the events are appended to that file too
 * (the test prints its path when it fails).
 *
 * env: KVO_APP, KVO_BOOTSTRAP_SERVERS, KVO_INSTANCE_ID, KVO_PARTITIONS, STEP_DELAY_MS,
 *      KVO_CHILD_LOG_FILE, PAUSE_DETECT_MS (default 3000)
 */
import { randomUUID } from "node:crypto";
import { appendFileSync } from "node:fs";
import { createRuntime, object } from "../../../index.js";

const instanceId = process.env.KVO_INSTANCE_ID!;
const stepDelay = Number(process.env.STEP_DELAY_MS ?? 0);
const pauseDetectMs = Number(process.env.PAUSE_DETECT_MS ?? 3_000);
const logFile = process.env.KVO_CHILD_LOG_FILE;
const pause = () => (stepDelay > 0 ? new Promise((r) => setTimeout(r, stepDelay)) : undefined);

const toFile = (line: string) => {
  if (logFile) appendFileSync(logFile, `${new Date().toISOString()} ${instanceId} ${line}\n`);
};
const emit = (event: Record<string, unknown>) => {
  const line = JSON.stringify(event);
  process.stdout.write(line + "\n");
  toFile(line);
};

// Freeze detection. The test sends SIGUSR2 (answered by an "armed" event) right before it
// SIGSTOPs this process; from then on a clock gap longer than PAUSE_DETECT_MS means "I was
// frozen and woke up". Whoever runs first after the wake-up (the 50 ms timer or a step
// finishing) notices the gap, so no step computed after the freeze is mistaken for an earlier one.
let armed = false;
let pauses = 0;
/** True from the wake-up until this process's work is revoked or fenced: it acts as a zombie. */
let zombie = false;
let lastTick = Date.now();
const observeClock = () => {
  const now = Date.now();
  const gapMs = now - lastTick;
  lastTick = now;
  if (armed && gapMs > pauseDetectMs) {
    armed = false;
    pauses++;
    zombie = true;
    emit({ event: "woke", gapMs, pauses });
  }
};
setInterval(observeClock, 50).unref();
process.on("SIGUSR2", () => {
  observeClock();
  armed = true;
  emit({ event: "armed" });
});
/** "<instanceId>|p<pauses>|Z" while a zombie, "...|ok" otherwise. */
const marker = () => (observeClock(), `${instanceId}|p${pauses}|${zombie ? "Z" : "ok"}`);

export const counter = object({
  name: "Counter",
  handlers: {
    add: async (ctx, input: { seq: number }) => {
      const token = await ctx.run("token", async () => {
        await pause();
        return `${marker()}|${randomUUID()}`;
      });
      const echoed = await ctx.run("echo", async () => (await pause(), token));
      const count = ((await ctx.get<number>("count")) ?? 0) + 1;
      ctx.set("count", count);
      if (input.seq !== count) ctx.set(`order-violation-${input.seq}`, count);
      return { count, token, echoed };
    },
  },
});

const log = (level: string, toStd: (m: string) => void) => (message: string) => {
  toStd(`[${instanceId}] ${level}: ${message}`);
  toFile(`${level}: ${message}`);
};

const runtime = createRuntime({
  app: process.env.KVO_APP!,
  objects: [counter],
  partitions: Number(process.env.KVO_PARTITIONS ?? 4),
  kafka: {
    brokers: process.env.KVO_BOOTSTRAP_SERVERS!.split(","),
    instanceId,
    sessionTimeoutMs: 6_000,
    transactionTimeoutMs: 10_000,
  },
  retry: { initialIntervalMs: 50, maxAttempts: 100 },
  // info goes to the file only: stdout carries the event lines
  logger: {
    debug: () => undefined,
    info: (m) => toFile(`info: ${m}`),
    warn: log("warn", console.error),
    error: log("error", console.error),
  },
});

const endZombie = () => {
  observeClock();
  zombie = false;
};
runtime.on("fenced", (e) => {
  endZombie();
  emit({ event: "fenced", message: e.message });
});
runtime.on("partition.revoked", (e) => {
  endZombie();
  emit({ event: "revoked", partitions: e.partitions });
});
runtime.on("commit.failed", (e) => emit({ event: "commit_failed", code: e.code, message: e.message, attempt: e.attempt }));
runtime.on("partition.restore_failed", (e) =>
  emit({ event: "restore_failed", partition: e.partition, code: e.code, message: e.message, attempt: e.attempt }),
);
void runtime.closed.then((error) =>
  emit({ event: "closed", error: error ? `${(error as { code?: string }).code ?? ""}: ${error.message}` : null }),
);

await runtime.start();
emit({ event: "started", pid: process.pid });
const timer = setInterval(() => emit({ event: "stats", ...runtime.stats() }), 500);
process.on("SIGTERM", () => {
  clearInterval(timer);
  void runtime.stop().then(() => {
    emit({ event: "stopped", ...runtime.stats() });
    process.exit(0);
  });
});
