/**
 * The runtime child process of the backlog benchmark (app.ts), on the shared
 * RuntimeChildProcess: it reports its stats on SIGUSR2 and may run under `node --cpu-prof`.
 */
import { RuntimeChildProcess } from "../runtime_child_process.js";

export interface ChildStats {
  atMs: number;
  hrUs: number;
  completed: number;
  failed: number;
  inFlight: number;
  commits: number;
  committedRecords: number;
  commitRetries: number;
  fenced: number;
  /** Durations of every committed transaction in commit order (ms, "commit.done" durationMs). */
  txnMs: number[];
  maxTxnRecords: number;
  heapUsedMb: number;
  /** Heap still used after a forced GC (NaN without --expose-gc). */
  heapLiveMb: number;
  /** Event-loop delay since the process started (monitorEventLoopDelay), ms. */
  loopDelayMaxMs: number;
  loopDelayP99Ms: number;
}

export interface SpawnOptions {
  app: string;
  brokers: string[];
  partitions: number;
  /** JSON object merged into createRuntime's options. */
  runtimeOptions?: string;
  /** When set, the child runs under `node --cpu-prof` writing into this directory. */
  cpuProfDir?: string;
}

export class RuntimeProcess extends RuntimeChildProcess {
  constructor(o: SpawnOptions) {
    super({
      appFile: new URL("./app.ts", import.meta.url).pathname,
      nodeArgs: o.cpuProfDir ? ["--cpu-prof", `--cpu-prof-dir=${o.cpuProfDir}`] : [],
      env: {
        KVO_APP: o.app,
        KVO_BOOTSTRAP_SERVERS: o.brokers.join(","),
        KVO_PARTITIONS: String(o.partitions),
        ...(o.runtimeOptions && { KVO_BENCH_RUNTIME_OPTIONS: o.runtimeOptions }),
      },
      name: "runtime",
      stdin: "ignore",
    });
  }

  async stats(): Promise<ChildStats> {
    const got = this.next("stats");
    this.child.kill("SIGUSR2");
    return (await got) as unknown as ChildStats;
  }
}
