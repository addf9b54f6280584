/**
 * The runtime child process of the subscription benchmark (app.ts), on the shared
 * RuntimeChildProcess: it takes "stats"/"stats gc" on stdin, and remembers the first failed
 * invocation it reports.
 */
import { RuntimeChildProcess } from "../runtime_child_process.js";

/** What app.ts reports on "stats" (runtime.stats() and a few more). */
export interface ChildStats {
  atMs: number;
  completed: number;
  failed: number;
  commits: number;
  committedRecords: number;
  commitRetries: number;
  fenced: number;
  maxCommitMs: number;
  /** Durations of every committed transaction in commit order (ms, "commit.done" durationMs). */
  txnMs: number[];
  heapUsedMb: number;
  /** Heap still used after a forced GC (NaN unless asked for, or without --expose-gc). */
  heapLiveMb: number;
  /** Largest V8 heap (committed), external and ArrayBuffer memory so far, sampled every 500 ms. */
  memoryMax: { heapTotalMb: number; externalMb: number; arrayBuffersMb: number };
  loopDelayMaxMs: number;
  loopDelayP99Ms: number;
  /** runtime.stats().subscriptions (absent in the direct scenario or before the relay exists). */
  subscriptions?: Array<{
    name: string;
    state: string;
    relayed: number;
    filtered: number;
    deadLettered: number;
    skippedDuplicates: number;
    [field: string]: unknown;
  }>;
}

export class RuntimeProcess extends RuntimeChildProcess {
  /** The first failed invocation the child reported, if any. */
  failure: Record<string, unknown> | null = null;

  /**
   * @param env the app's KVO_* variables (see app.ts)
   * @param cpuProfDir when set, the child runs under `node --cpu-prof` writing into this directory
   */
  constructor(env: Record<string, string>, cpuProfDir?: string) {
    super({
      appFile: new URL("./app.ts", import.meta.url).pathname,
      nodeArgs: cpuProfDir ? ["--cpu-prof", `--cpu-prof-dir=${cpuProfDir}`] : [],
      env,
      name: "runtime",
      stdin: "pipe",
      onEvent: (event) => {
        if (event.event !== "failed") return;
        this.failure ??= event;
        process.stderr.write(`[runtime] an invocation failed: ${JSON.stringify(event.failure)}\n`);
      },
    });
  }

  /** Throws when the child has exited (it should run until stop()) or an invocation failed. */
  assertHealthy(): void {
    this.assertAlive();
    if (this.failure)
      throw new Error(
        `an invocation failed in the runtime process: ${JSON.stringify(this.failure.failure)} ` +
          `(with an "invalid_emit"/unknown format failure, Avro egress is not supported yet: run with --egress json)`,
      );
  }

  /** The child's stats; with `gc`, after a forced garbage collection (heapLiveMb). */
  async stats(gc = false): Promise<ChildStats> {
    const got = this.next("stats");
    this.send(gc ? "stats gc" : "stats");
    return (await got) as unknown as ChildStats;
  }
}
