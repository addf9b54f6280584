/**
 * The runtime child process of the calls benchmark (app.ts): spawns it and turns its stdout
 * lines into events. Its stderr is ours, so a failure in it shows up in the bench's output.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";

/** The part of runtime.stats() the benchmark reads. */
export interface ChildStats {
  completed: number;
  failed: number;
  commits: number;
}

export class RuntimeProcess {
  private readonly child: ChildProcess;
  private readonly waiters: Array<(event: Record<string, unknown>) => boolean> = [];
  private exitError: Error | null = null;
  private readonly exited: Promise<void>;

  constructor(app: string, brokers: string[], partitions: number) {
    this.child = spawn(process.execPath, ["--import", "tsx", new URL("./app.ts", import.meta.url).pathname], {
      env: { ...process.env, KVO_APP: app, KVO_BOOTSTRAP_SERVERS: brokers.join(","), KVO_PARTITIONS: String(partitions) },
      stdio: ["pipe", "pipe", "inherit"],
    });
    this.exited = new Promise((resolve) =>
      this.child.once("exit", (code, signal) => {
        this.exitError = new Error(`the calls runtime process exited (code ${code}, signal ${signal}); its stderr is above`);
        for (const w of this.waiters.splice(0)) w({ event: "exit" });
        resolve();
      }),
    );
    createInterface({ input: this.child.stdout! }).on("line", (line) => {
      let event: Record<string, unknown>;
      try {
        event = JSON.parse(line) as Record<string, unknown>;
      } catch {
        process.stderr.write(`[calls runtime] ${line}\n`);
        return;
      }
      for (let i = 0; i < this.waiters.length; i++) if (this.waiters[i]!(event)) this.waiters.splice(i--, 1);
    });
  }

  /** The next event of this kind; rejects if the child exits first. */
  next(kind: string): Promise<Record<string, unknown>> {
    if (this.exitError) return Promise.reject(this.exitError);
    return new Promise((resolve, reject) =>
      this.waiters.push((e) => {
        if (e.event === "exit") reject(this.exitError ?? new Error("the calls runtime process exited"));
        else if (e.event === kind) resolve(e);
        else return false;
        return true;
      }),
    );
  }

  async stats(): Promise<ChildStats> {
    const got = this.next("stats");
    this.child.stdin!.write("stats\n");
    return (await got) as unknown as ChildStats;
  }

  /** Graceful stop (SIGTERM: commit, leave the group, exit); SIGKILL after 30 s. */
  async stop(): Promise<void> {
    if (this.exitError) return;
    this.child.kill("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const stopped = await Promise.race([
      this.exited.then(() => true),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 30_000))),
    ]);
    clearTimeout(timer);
    if (!stopped) {
      process.stderr.write("the calls runtime process did not exit 30 s after SIGTERM; killing it\n");
      this.child.kill("SIGKILL");
      await this.exited;
    }
  }
}
