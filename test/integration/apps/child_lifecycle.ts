/**
 * What every child runtime app (apps/*_app.ts) shares: the runtime options it takes from its
 * environment, and its life from start to exit, told as one JSON line per event on stdout,
 * the lines ChildRuntime (support/child_runtime.ts) parses and the tests wait for:
 *
 *   started {pid}              the runtime started
 *   stats {...runtime.stats()} every 500 ms
 *   closed {code, message}     the runtime stopped by itself (it can never commit again, e.g.
 *                              fenced); the process exits with code 3
 *   stopped {...runtime.stats()}  after SIGTERM and a graceful stop; the process exits with 0
 *
 * env: KVO_APP, KVO_BOOTSTRAP_SERVERS, KVO_INSTANCE_ID (all set by ChildRuntime or its test),
 *      KVO_PARTITIONS
 */
import type { CreateRuntimeOptions, Runtime } from "../../../index.js";

/** Prints one event line. */
export type Emit = (event: Record<string, unknown>) => void;

/** Prints one event as a JSON line on stdout. */
export const emit: Emit = (event) => void process.stdout.write(JSON.stringify(event) + "\n");

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: this app runs as a child of ChildRuntime (test/integration/support/child_runtime.ts)`);
  return value;
}

/**
 * The options of the runtime every child app runs: app, brokers and instance id from the
 * environment, a short session timeout (a killed process's partitions move on quickly) and a
 * transaction timeout the fencing tests count on (10 s), quick retries.
 */
export function childRuntimeOptions(defaultPartitions = 4): Pick<CreateRuntimeOptions, "app" | "partitions" | "kafka" | "retry"> {
  return {
    app: requiredEnv("KVO_APP"),
    partitions: Number(process.env.KVO_PARTITIONS ?? defaultPartitions),
    kafka: {
      brokers: requiredEnv("KVO_BOOTSTRAP_SERVERS").split(","),
      instanceId: requiredEnv("KVO_INSTANCE_ID"),
      sessionTimeoutMs: 6_000,
      transactionTimeoutMs: 10_000,
    },
    retry: { initialIntervalMs: 50, maxAttempts: 100 },
  };
}

export interface ChildOptions {
  /** Prints the events above (default `emit`); an app that also logs them to a file passes its own. */
  emit?: Emit;
  /**
   * Whether a runtime that stops by itself ends the process (`closed`, exit code 3). Default
   * true; false for an app that reports `closed` itself and stays up until SIGTERM.
   */
  exitWhenClosed?: boolean;
}

/** Starts `runtime` and runs the process around it (the events above) until SIGTERM or a close. */
export async function runChild(runtime: Runtime, options: ChildOptions = {}): Promise<void> {
  const print = options.emit ?? emit;
  await runtime.start();
  print({ event: "started", pid: process.pid });
  const timer = setInterval(() => print({ event: "stats", ...runtime.stats() }), 500);
  if (options.exitWhenClosed ?? true)
    void runtime.closed.then((error) => {
      if (!error) return;
      clearInterval(timer);
      print({ event: "closed", code: (error as { code?: string }).code ?? "unknown", message: error.message });
      process.exit(3);
    });
  process.on("SIGTERM", () => {
    clearInterval(timer);
    void runtime.stop().then(() => {
      print({ event: "stopped", ...runtime.stats() });
      process.exit(0);
    });
  });
}
