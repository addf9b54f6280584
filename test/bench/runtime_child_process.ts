/**
 * A benchmark's runtime child process (a bench's app.ts run under tsx): spawns it, turns its
 * stdout lines into JSON events, hands them to waiters (`next`) and, unless told otherwise,
 * samples its RSS every 200 ms from /proc (from outside, so a blocked event loop in the child
 * cannot hide a peak). Its stderr is ours, so a failure in it shows up in the bench's output.
 *
 * Shared by the backlog, subscription and calls benchmarks; each extends it with how its app
 * is asked for stats and what those stats hold.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { rssBytes } from "./backlog/proc_stats.js";
import { within } from "./deadline.js";

export type ChildEvent = Record<string, unknown>;

export interface RuntimeChildOptions {
  /** The app file the child runs (absolute path). */
  appFile: string;
  /** Variables added to ours (the app's KVO_* settings). */
  env: Record<string, string>;
  /** What the child is called in messages: "[<name>] line", "the <name> process exited". */
  name: string;
  /** Node flags before `--import tsx` (e.g. --cpu-prof). */
  nodeArgs?: string[];
  /** "pipe" when the app takes commands on stdin (see `send`); "ignore" otherwise. */
  stdin: "pipe" | "ignore";
  /** Sample the child's RSS into `rssMax` (default true). */
  sampleRss?: boolean;
  /** Called with every event before the waiters see it. */
  onEvent?: (event: ChildEvent) => void;
}

const SAMPLE_EVERY_MS = 200;
const STOP_GRACE_MS = 30_000;

export class RuntimeChildProcess {
  readonly child: ChildProcess;
  /** Largest RSS sampled so far, bytes (0 when not sampling). */
  rssMax = 0;
  /** Settles with the exit code once the child has exited. */
  readonly exited: Promise<number | null>;
  private readonly name: string;
  private readonly sampler: NodeJS.Timeout | undefined;
  /** Each returns true once it is done (and is then removed); all see {event:"exit"} on exit. */
  private readonly waiters: Array<(event: ChildEvent) => boolean> = [];
  private exitError: Error | null = null;

  constructor(o: RuntimeChildOptions) {
    this.name = o.name;
    this.child = spawn(process.execPath, [...(o.nodeArgs ?? []), "--import", "tsx", o.appFile], {
      env: { ...process.env, ...o.env },
      stdio: [o.stdin, "pipe", "inherit"],
    });
    this.exited = new Promise((resolve) =>
      this.child.once("exit", (code, signal) => {
        this.exitError = new Error(`the ${this.name} process exited (code ${code}, signal ${signal}); its stderr is above`);
        clearInterval(this.sampler);
        for (const w of this.waiters.splice(0)) w({ event: "exit" });
        resolve(code);
      }),
    );
    this.sampler = o.sampleRss === false ? undefined : setInterval(() => this.sample(), SAMPLE_EVERY_MS);
    createInterface({ input: this.child.stdout! }).on("line", (line) => {
      let event: ChildEvent;
      try {
        event = JSON.parse(line) as ChildEvent;
      } catch {
        process.stderr.write(`[${this.name}] ${line}\n`);
        return;
      }
      o.onEvent?.(event);
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
  next(kind: string): Promise<ChildEvent> {
    if (this.exitError) return Promise.reject(this.exitError);
    return new Promise((resolve, reject) =>
      this.waiters.push((e) => {
        if (e.event === "exit") reject(this.exitError ?? new Error(`the ${this.name} process exited`));
        else if (e.event === kind) resolve(e);
        else return false;
        return true;
      }),
    );
  }

  /**
   * next(kind), but rejects when it has not come within `ms` of this call: "no <what> within
   * <ms/1000> s of starting the <name> process" (so call it right after spawning).
   */
  nextWithin(kind: string, ms: number, what: string): Promise<ChildEvent> {
    return within(this.next(kind), ms, `no ${what} within ${ms / 1000} s of starting the ${this.name} process (see its stderr above)`);
  }

  /** Writes one command line to the child's stdin (needs `stdin: "pipe"`). */
  send(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }

  /** Graceful stop (SIGTERM: commit, leave the group, exit); SIGKILL after 30 s. */
  async stop(): Promise<void> {
    clearInterval(this.sampler);
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([this.exited, new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), STOP_GRACE_MS)))]);
    clearTimeout(timer);
    if (code === "timeout") {
      process.stderr.write(`the ${this.name} process did not exit 30 s after SIGTERM; killing it\n`);
      this.child.kill("SIGKILL");
      await this.exited;
    }
  }
}
