/**
 * The runtime child process of the backlog benchmark (app.ts): spawns it, turns its stdout
 * lines into events and samples its RSS every 200 ms from /proc (from outside, so a blocked
 * event loop in the child cannot hide a peak).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { rssBytes } from "./proc_stats.js";

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

const SAMPLE_EVERY_MS = 200;

export class RuntimeProcess {
  readonly child: ChildProcess;
  /** Largest RSS sampled so far, bytes. */
  rssMax = 0;
  private readonly sampler: NodeJS.Timeout;
  private readonly waiters: Array<(event: Record<string, unknown>) => boolean> = [];
  private exitError: Error | null = null;
  readonly exited: Promise<number | null>;

  constructor(o: SpawnOptions) {
    const node = [...(o.cpuProfDir ? ["--cpu-prof", `--cpu-prof-dir=${o.cpuProfDir}`] : []), "--import", "tsx"];
    this.child = spawn(process.execPath, [...node, new URL("./app.ts", import.meta.url).pathname], {
      env: {
        ...process.env,
        KVO_APP: o.app,
        KVO_BOOTSTRAP_SERVERS: o.brokers.join(","),
        KVO_PARTITIONS: String(o.partitions),
        ...(o.runtimeOptions && { KVO_BENCH_RUNTIME_OPTIONS: o.runtimeOptions }),
      },
      stdio: ["ignore", "pipe", "inherit"],
    });
    this.exited = new Promise((resolve) =>
      this.child.once("exit", (code, signal) => {
        this.exitError = new Error(`the runtime process exited (code ${code}, signal ${signal}); its stderr is above`);
        clearInterval(this.sampler);
        for (const w of this.waiters.splice(0)) w({ event: "exit" });
        resolve(code);
      }),
    );
    this.sampler = setInterval(() => this.sample(), SAMPLE_EVERY_MS);
    createInterface({ input: this.child.stdout! }).on("line", (line) => {
      let event: Record<string, unknown>;
      try {
        event = JSON.parse(line) as Record<string, unknown>;
      } catch {
        process.stderr.write(`[runtime] ${line}\n`);
        return;
      }
      for (let i = 0; i < this.waiters.length; i++) if (this.waiters[i]!(event)) this.waiters.splice(i--, 1);
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  sample(): void {
    const rss = this.child.pid === undefined ? null : rssBytes(this.child.pid);
    if (rss !== null && rss > this.rssMax) this.rssMax = rss;
  }

  /** Throws when the child has exited (it should run until stop()). */
  assertAlive(): void {
    if (this.exitError) throw this.exitError;
  }

  /** The next event of this kind; rejects if the child exits first. */
  next(kind: string): Promise<Record<string, unknown>> {
    this.assertAlive();
    return new Promise((resolve, reject) =>
      this.waiters.push((e) => {
        if (e.event === "exit") reject(this.exitError ?? new Error("the runtime process exited"));
        else if (e.event === kind) resolve(e);
        else return false;
        return true;
      }),
    );
  }

  async stats(): Promise<ChildStats> {
    const got = this.next("stats");
    this.child.kill("SIGUSR2");
    return (await got) as unknown as ChildStats;
  }

  /** Graceful stop (SIGTERM: commit, leave the group, exit); SIGKILL after 30 s. */
  async stop(): Promise<void> {
    clearInterval(this.sampler);
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([this.exited, new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), 30_000)))]);
    clearTimeout(timer);
    if (code === "timeout") {
      process.stderr.write("the runtime process did not exit 30 s after SIGTERM; killing it\n");
      this.child.kill("SIGKILL");
      await this.exited;
    }
  }
}
