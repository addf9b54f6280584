/**
 * A runtime in a child process (test/integration/apps/*.ts), so tests can SIGKILL, SIGSTOP
 * and SIGCONT it like an operator or the kernel would.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { bootstrapServers } from "./endpoints.js";

export interface ChildEvent {
  event: string;
  [field: string]: unknown;
}

export class ChildRuntime {
  readonly child: ChildProcess;
  readonly events: ChildEvent[] = [];
  readonly stderr: string[] = [];
  private readonly exited: Promise<number | null>;

  constructor(app: string, script: string, env: Record<string, string>) {
    const path = fileURLToPath(new URL(`../apps/${script}`, import.meta.url));
    this.child = spawn(process.execPath, ["--import", "tsx", path], {
      env: { ...process.env, KVO_APP: app, KVO_BOOTSTRAP_SERVERS: bootstrapServers().join(","), ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    createInterface({ input: this.child.stdout! }).on("line", (line) => {
      try {
        this.events.push(JSON.parse(line) as ChildEvent);
      } catch {
        // not an event line
      }
    });
    createInterface({ input: this.child.stderr! }).on("line", (line) => {
      this.stderr.push(line);
      if (this.stderr.length > 200) this.stderr.shift();
    });
    // "close", not "exit": by then stdout is drained, so the last event lines have been read
    this.exited = new Promise((resolve) => this.child.once("close", (code) => resolve(code)));
  }

  get pid(): number {
    return this.child.pid!;
  }

  last(event: string): ChildEvent | undefined {
    for (let i = this.events.length - 1; i >= 0; i--) if (this.events[i]!.event === event) return this.events[i];
    return undefined;
  }

  async waitFor(predicate: (e: ChildEvent) => boolean, what: string, timeoutMs = 60_000): Promise<ChildEvent> {
    return this.waitFrom(0, predicate, what, timeoutMs);
  }

  /** Like waitFor, but only events that arrive after this call count. */
  waitForNext(predicate: (e: ChildEvent) => boolean, what: string, timeoutMs = 60_000): Promise<ChildEvent> {
    return this.waitFrom(this.events.length, predicate, what, timeoutMs);
  }

  private async waitFrom(from: number, predicate: (e: ChildEvent) => boolean, what: string, timeoutMs: number): Promise<ChildEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.events.slice(from).find(predicate);
      if (hit) return hit;
      if (this.child.exitCode !== null)
        throw new Error(`child exited (${this.child.exitCode}) before ${what}; stderr:\n${this.stderr.slice(-20).join("\n")}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; stderr:\n${this.stderr.slice(-20).join("\n")}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  async killHard(): Promise<void> {
    this.child.kill("SIGKILL");
    await this.exited;
  }

  /** SIGTERM (graceful stop), SIGKILL after the timeout. */
  async stop(timeoutMs = 30_000): Promise<number | null> {
    if (this.child.exitCode !== null) return this.child.exitCode;
    this.child.kill("SIGCONT");
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}
