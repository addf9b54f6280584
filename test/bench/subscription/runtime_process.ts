/**
 * The runtime child process of the subscription benchmark (app.ts): spawns it, turns its
 * stdout lines into events and samples its RSS every 200 ms from /proc (from outside, so a
 * blocked event loop in the child cannot hide a peak). Adapted from
 * test/bench/backlog/runtime_process.ts (which spawns the backlog's own app).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { rssBytes } from "../backlog/proc_stats.js";

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

const SAMPLE_EVERY_MS = 200;

export class RuntimeProcess {
  readonly child: ChildProcess;
  /** Largest RSS sampled so far, bytes. */
  rssMax = 0;
  /** The first failed invocation the child reported, if any. */
  failure: Record<string, unknown> | null = null;
  private readonly sampler: NodeJS.Timeout;
  private readonly waiters: Array<(event: Record<string, unknown>) => boolean> = [];
  private exitError: Error | null = null;
  readonly exited: Promise<number | null>;

  /** @param env the app's KVO_* variables (see app.ts) */
  constructor(env: Record<string, string>) {
    this.child = spawn(process.execPath, ["--import", "tsx", new URL("./app.ts", import.meta.url).pathname], {
      env: { ...process.env, ...env },
      stdio: ["pipe", "pipe", "inherit"],
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
      if (event.event === "failed") {
        this.failure ??= event;
        process.stderr.write(`[runtime] an invocation failed: ${JSON.stringify(event.failure)}\n`);
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

  /** Throws when the child has exited (it should run until stop()) or an invocation failed. */
  assertHealthy(): void {
    if (this.exitError) throw this.exitError;
    if (this.failure)
      throw new Error(
        `an invocation failed in the runtime process: ${JSON.stringify(this.failure.failure)} ` +
          `(with an "invalid_emit"/unknown format failure, Avro egress is not supported yet: run with --egress json)`,
      );
  }

  /** The next event of this kind; rejects if the child exits first. */
  next(kind: string): Promise<Record<string, unknown>> {
    if (this.exitError) return Promise.reject(this.exitError);
    return new Promise((resolve, reject) =>
      this.waiters.push((e) => {
        if (e.event === "exit") reject(this.exitError ?? new Error("the runtime process exited"));
        else if (e.event === kind) resolve(e);
        else return false;
        return true;
      }),
    );
  }

  /** The child's stats; with `gc`, after a forced garbage collection (heapLiveMb). */
  async stats(gc = false): Promise<ChildStats> {
    const got = this.next("stats");
    this.child.stdin!.write(gc ? "stats gc\n" : "stats\n");
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
