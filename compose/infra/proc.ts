/**
 * Process plumbing shared by the native services: detached start in an own process group,
 * pid files under `.kvo/run/`, stop by process group (SIGTERM, then SIGKILL), port probes.
 *
 * A pid file records the pid (= process group id, since the child is a group leader) and a
 * `match` string that must appear in the process's command line. That guards against
 * pid reuse: we never signal a process that is not the one we started.
 */
import { spawn, type SpawnOptions } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createConnection } from "node:net";
import { dirname, join, relative } from "node:path";
import type { InfraPaths } from "./service.js";

export interface PidRecord {
  pid: number;
  /** Substring of /proc/<pid>/cmdline identifying our process (e.g. its config file path). */
  match: string;
  /** Command line, for humans. */
  command: string;
  startedAt: string;
  logFile: string;
}

export const runDir = (paths: InfraPaths): string => join(paths.stateDir, "run");
export const logDir = (paths: InfraPaths): string => join(paths.stateDir, "logs");
export const dataDir = (paths: InfraPaths): string => join(paths.stateDir, "data");
export const confDir = (paths: InfraPaths): string => join(paths.stateDir, "conf");
export const pidFile = (paths: InfraPaths, name: string): string => join(runDir(paths), `${name}.pid`);

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A path relative to the current directory when that is shorter, for printing. */
export function pretty(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith("..") && rel.length < path.length ? rel : path;
}

export function readPid(paths: InfraPaths, name: string): PidRecord | undefined {
  const file = pidFile(paths, name);
  if (!existsSync(file)) return undefined;
  try {
    const rec = JSON.parse(readFileSync(file, "utf8")) as PidRecord;
    return typeof rec.pid === "number" && rec.pid > 0 ? rec : undefined;
  } catch {
    return undefined;
  }
}

export function removePid(paths: InfraPaths, name: string): void {
  rmSync(pidFile(paths, name), { force: true });
}

/** The command line of a live process, or undefined when it does not exist (or is a zombie). */
function cmdline(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // state is the field after the parenthesised comm
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    if (state === "Z" || state === "X") return undefined;
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
  } catch {
    return undefined;
  }
}

/** True when the recorded process is alive and still the one we started. */
export function isOurs(rec: PidRecord | undefined): boolean {
  if (!rec) return false;
  const cmd = cmdline(rec.pid);
  return cmd !== undefined && cmd.includes(rec.match);
}

/** The live pid recorded for a service, if any. */
export function livePid(paths: InfraPaths, name: string): number | undefined {
  return liveRecord(paths, name)?.pid;
}

/** The pid record of a service, when its process is alive and ours. */
export function liveRecord(paths: InfraPaths, name: string): PidRecord | undefined {
  const rec = readPid(paths, name);
  return rec && isOurs(rec) ? rec : undefined;
}

/** Pids of all live processes in a process group (Linux /proc scan). */
export function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync("/proc");
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // rest[0]=state rest[1]=ppid rest[2]=pgrp
      if (Number(rest[2]) !== pgid) continue;
      if (rest[0] === "Z" || rest[0] === "X") {
        // a zombie leader whose other threads are still exiting still holds its sockets
        if (threads(Number(e)) <= 1) continue;
      }
      out.push(Number(e));
    } catch {
      // process vanished
    }
  }
  return out;
}

function threads(pid: number): number {
  try {
    const m = /^Threads:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Waits up to `waitMs` for nothing to listen on any of the ports; true when they are free. */
export async function portsFree(host: string, ports: number[], waitMs = 5000): Promise<boolean> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const busy = await Promise.all(ports.map((p) => portOpen(host, p)));
    if (!busy.some(Boolean)) return true;
    if (Date.now() > deadline) return false;
    await sleep(200);
  }
}

export interface StartOptions {
  name: string;
  command: string;
  args: string[];
  /** See PidRecord.match. */
  match: string;
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/**
 * Starts a command detached in its own process group with stdout/stderr appended to the log
 * file, and records it in `.kvo/run/<name>.pid`. The caller waits for health.
 */
export function startDetached(paths: InfraPaths, opts: StartOptions): PidRecord {
  mkdirSync(runDir(paths), { recursive: true });
  mkdirSync(dirname(opts.logFile), { recursive: true });
  const fd = openSync(opts.logFile, "a");
  writeFileSync(fd, `\n---- ${new Date().toISOString()} starting ${opts.command} ${opts.args.join(" ")}\n`);
  const spawnOpts: SpawnOptions = {
    detached: true,
    stdio: ["ignore", fd, fd],
    env: opts.env ?? process.env,
    cwd: opts.cwd ?? paths.root,
  };
  const child = spawn(opts.command, opts.args, spawnOpts);
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`could not start ${opts.command} (see ${pretty(opts.logFile)})`);
  child.on("error", () => undefined);
  child.unref();
  const rec: PidRecord = {
    pid: child.pid,
    match: opts.match,
    command: [opts.command, ...opts.args].join(" "),
    startedAt: new Date().toISOString(),
    logFile: opts.logFile,
  };
  writeFileSync(pidFile(paths, opts.name), JSON.stringify(rec, null, 2) + "\n");
  return rec;
}

/** startDetached, then waits (briefly) until the child has exec'd and its command line matches. */
export async function startDetachedAndWait(paths: InfraPaths, opts: StartOptions): Promise<PidRecord> {
  const rec = startDetached(paths, opts);
  const deadline = Date.now() + 5000;
  while (!isOurs(rec) && Date.now() < deadline && cmdline(rec.pid) !== undefined) await sleep(20);
  return rec;
}

/**
 * Stops the process group recorded for `name`: SIGTERM, then SIGKILL after `graceMs`, and
 * verifies that no member of the group is left. Removes the pid file. No-op when nothing is
 * recorded or the recorded pid is no longer ours.
 */
export async function stopRecorded(
  paths: InfraPaths,
  name: string,
  graceMs = 20_000,
  signal: NodeJS.Signals = "SIGTERM",
): Promise<boolean> {
  const rec = liveRecord(paths, name);
  if (!rec) {
    removePid(paths, name);
    return false;
  }
  const pgid = rec.pid;
  const send = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pgid, sig);
    } catch {
      // group gone
    }
  };
  send(signal);
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && groupMembers(pgid).length > 0) await sleep(100);
  if (groupMembers(pgid).length > 0) {
    send("SIGKILL");
    const killDeadline = Date.now() + 10_000;
    while (Date.now() < killDeadline && groupMembers(pgid).length > 0) await sleep(100);
  }
  const left = groupMembers(pgid);
  if (left.length > 0) {
    throw new Error(`${name}: processes ${left.join(", ")} of group ${pgid} survived SIGKILL`);
  }
  // Dead now; give whoever reaps orphans (init) a moment so no <defunct> entry lingers.
  const reapDeadline = Date.now() + 5000;
  while (Date.now() < reapDeadline && existsSync(`/proc/${pgid}`)) await sleep(100);
  removePid(paths, name);
  return true;
}

/** True when something accepts TCP connections on host:port. */
export function portOpen(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host, port });
    const done = (ok: boolean) => {
      sock.removeAllListeners();
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once("connect", () => done(true));
    sock.once("error", () => done(false));
  });
}

/** Last lines of a log file, for error messages. */
export function tail(file: string, lines = 25): string {
  try {
    const all = readFileSync(file, "utf8").split("\n");
    return all.slice(-lines - 1).join("\n");
  } catch {
    return "(no log)";
  }
}

/**
 * Waits until `healthy()` holds. Fails early when the process died, and with the log tail
 * when the deadline passes.
 */
export async function waitHealthy(name: string, rec: PidRecord, healthy: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await healthy()) return;
    if (!isOurs(rec)) {
      throw new Error(
        `${name} exited during startup; see ${pretty(rec.logFile)}\n--- last lines of ${pretty(rec.logFile)}:\n${tail(rec.logFile)}`,
      );
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${name} did not become healthy within ${Math.round(timeoutMs / 1000)}s (pid ${rec.pid}); see ${pretty(rec.logFile)}\n--- last lines:\n${tail(rec.logFile)}`,
      );
    }
    await sleep(500);
  }
}

/** Runs a command to completion, inheriting nothing; rejects with its output on failure. */
export function run(
  command: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; logFile?: string; timeoutMs?: number } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    const onData = (b: Buffer) => {
      out += b.toString();
      if (out.length > 200_000) out = out.slice(-100_000);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          child.kill("SIGKILL");
        }, opts.timeoutMs)
      : undefined;
    child.on("error", (err) => {
      if (timer) clearTimeout(timer);
      reject(new Error(`${command}: ${err.message}`));
    });
    child.on("close", (code, sig) => {
      if (timer) clearTimeout(timer);
      if (opts.logFile) {
        mkdirSync(dirname(opts.logFile), { recursive: true });
        writeFileSync(opts.logFile, `$ ${command} ${args.join(" ")}\n${out}`, { flag: "a" });
      }
      if (code === 0) resolve(out);
      else
        reject(
          new Error(
            `${command} ${args.join(" ")} failed (${sig ?? `exit ${code}`})` +
              (opts.logFile ? `; see ${pretty(opts.logFile)}` : "") +
              `\n${out.split("\n").slice(-30).join("\n")}`,
          ),
        );
    });
  });
}

/** True when an executable is on PATH. */
export function onPath(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    if (!dir) continue;
    const p = join(dir, cmd);
    if (existsSync(p)) return p;
  }
  return undefined;
}

/**
 * Cross-process lock: a directory holding the holder's pid, created atomically by renaming a
 * prepared temporary directory onto the lock path (fails while a holder exists). A lock whose
 * holder died is taken over.
 */
export async function withLock<T>(paths: InfraPaths, name: string, fn: () => Promise<T>, waitMs = 15 * 60_000): Promise<T> {
  mkdirSync(runDir(paths), { recursive: true });
  const dir = join(runDir(paths), `${name}.lock`);
  const deadline = Date.now() + waitMs;
  const waitStart = Date.now();
  let announced = false;
  for (;;) {
    const tmp = `${dir}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    mkdirSync(tmp);
    writeFileSync(join(tmp, "pid"), String(process.pid));
    try {
      renameSync(tmp, dir);
      break;
    } catch {
      rmSync(tmp, { recursive: true, force: true });
    }
    let holder = NaN;
    try {
      holder = Number(readFileSync(join(dir, "pid"), "utf8"));
    } catch {
      // released meanwhile, or a lock dir of an older version without a pid file
    }
    const alive = Number.isFinite(holder) && holder > 0 && cmdline(holder) !== undefined;
    if (!alive) {
      let age = Infinity;
      try {
        age = Date.now() - statSync(dir).mtimeMs;
      } catch {
        continue; // released meanwhile
      }
      if (Number.isFinite(holder) || age > 2000) {
        rmSync(dir, { recursive: true, force: true });
        continue;
      }
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for lock ${pretty(dir)} held by pid ${holder}`);
    if (!announced && Date.now() - waitStart > 1000) {
      const who = alive ? `pid ${holder}: ${(cmdline(holder) ?? "").trim().slice(0, 120)}` : "unknown holder";
      process.stderr.write(`waiting for another infra command to finish (${who})...\n`);
      announced = true;
    }
    await sleep(250);
  }
  try {
    return await fn();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
