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
 * Prints one JSON line per event on stdout: started, stats (every 500 ms) and stopped (as
 * child_lifecycle.ts), armed, woke, fenced (message), revoked, commit_failed (code, message,
 * attempt), restore_failed, and closed (error: "<code>: <message>" or null; the process stays
 * up). With KVO_CHILD_LOG_FILE set, the runtime's log lines and the events are appended to
 * that file too (the test prints its path when it fails).
 *
 * env: KVO_APP, KVO_BOOTSTRAP_SERVERS, KVO_INSTANCE_ID, KVO_PARTITIONS, STEP_DELAY_MS,
 *      KVO_CHILD_LOG_FILE, PAUSE_DETECT_MS (default 3000)
 */
import { randomUUID } from "node:crypto";
import { appendFileSync } from "node:fs";
import { createRuntime, object } from "../../../index.js";
import { childRuntimeOptions, emit as printEvent, runChild, type Emit } from "./child_lifecycle.js";

const instanceId = process.env.KVO_INSTANCE_ID!;
const stepDelay = Number(process.env.STEP_DELAY_MS ?? 0);
const pauseDetectMs = Number(process.env.PAUSE_DETECT_MS ?? 3_000);
const logFile = process.env.KVO_CHILD_LOG_FILE;
const pause = () => (stepDelay > 0 ? new Promise((r) => setTimeout(r, stepDelay)) : undefined);

const toFile = (line: string) => {
  if (logFile) appendFileSync(logFile, `${new Date().toISOString()} ${instanceId} ${line}\n`);
};
/** Prints an event line on stdout (child_lifecycle's `emit`) and appends it to the log file. */
const emit: Emit = (event) => {
  printEvent(event);
  toFile(JSON.stringify(event));
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
  ...childRuntimeOptions(),
  objects: [counter],
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
// Unlike the other apps, a close does not end the process: `closed` is reported (with or
// without an error) and the test still reads the events and the log file afterwards.
void runtime.closed.then((error) =>
  emit({ event: "closed", error: error ? `${(error as { code?: string }).code ?? ""}: ${error.message}` : null }),
);

await runChild(runtime, { emit, exitWhenClosed: false });
