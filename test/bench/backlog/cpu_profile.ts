/**
 * Summary of a V8 .cpuprofile (as written by `node --cpu-prof`): self time aggregated by
 * function + script (anonymous functions also by line), optionally restricted to a time
 * window (the drain), plus self time per area of the code (runtime/, connectors/, a node_modules package, node internals), so a run
 * can say what limits the rate.
 *
 * Lines are shown for JavaScript only: TypeScript runs as tsx's transform, whose line numbers
 * are not the source's (the profile has no source maps applied).
 *
 * Self time of sample i is the time until the next sample (timeDeltas[i + 1]), which is how
 * Chrome DevTools attributes it. "(idle)" is time the process waited (on Kafka, timers),
 * "(garbage collector)" is GC, "(program)" is native code outside JavaScript (libuv,
 * librdkafka callbacks into V8, compilation).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
interface CpuProfile {
  nodes: ProfileNode[];
  /** Microseconds, on the monotonic clock (CLOCK_MONOTONIC on Linux, as process.hrtime). */
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  function: string;
  where: string;
  self_ms: number;
  self_pct: number;
}

export interface ProfileSummary {
  /** Milliseconds of samples in the window. */
  total_ms: number;
  /** Whether the samples were limited to the requested window (false: the whole profile). */
  windowed: boolean;
  top: ProfileEntry[];
  by_area: Array<{ area: string; self_ms: number; self_pct: number }>;
}

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));

/** Where a script lives, shortened: repo-relative path, package name, or node: module. */
function scriptName(url: string): string {
  if (!url) return "";
  if (!url.startsWith("file://")) return url;
  const path = relative(repoRoot, fileURLToPath(url));
  return path.startsWith("..") ? fileURLToPath(url) : path;
}

/** The coarse area of a script: a node_modules package, a top-level repo folder, node internals. */
function areaOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith("(") ? functionName : "(native)";
  const name = scriptName(url);
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(name);
  if (pkg) return pkg[1]!;
  if (name.startsWith("node:")) return "node internals";
  return name
    .split("/")
    .slice(0, name.startsWith("test/") ? 3 : 1)
    .join("/");
}

/**
 * @param windowUs optional [from, to] in microseconds on the monotonic clock (process.hrtime
 *   of any process on the machine); samples outside are ignored. Falls back to the whole
 *   profile when the window does not overlap it.
 */
export function summarizeCpuProfile(file: string, top = 15, windowUs?: [number, number]): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  let windowed = windowUs !== undefined && windowUs[0] < profile.endTime && windowUs[1] > profile.startTime;
  const [from, to] = windowed ? windowUs! : [-Infinity, Infinity];

  const self = new Map<string, { frame: CallFrame; us: number }>();
  const areas = new Map<string, number>();
  let total = 0;
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (t < from || t > to) continue;
    const us = profile.timeDeltas[i + 1] ?? 0;
    const node = byId.get(profile.samples[i]!);
    if (!node) continue;
    const { functionName, url } = node.callFrame;
    // anonymous functions of one script are told apart by line, named ones are merged
    const key = `${functionName}\0${url}${functionName ? "" : `:${node.callFrame.lineNumber}`}`;
    const entry = self.get(key) ?? { frame: node.callFrame, us: 0 };
    entry.us += us;
    self.set(key, entry);
    const area = areaOf(url, functionName);
    areas.set(area, (areas.get(area) ?? 0) + us);
    total += us;
  }
  if (windowed && total === 0) windowed = false;
  const pct = (us: number) => Math.round((1000 * us) / Math.max(1, total)) / 10;
  const ms = (us: number) => Math.round(us / 100) / 10;
  return {
    total_ms: ms(total),
    windowed,
    top: [...self.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map(({ frame, us }) => ({
        function: frame.functionName || "(anonymous)",
        where: frame.url ? `${scriptName(frame.url)}${frame.url.endsWith(".ts") ? "" : `:${frame.lineNumber + 1}`}` : "",
        self_ms: ms(us),
        self_pct: pct(us),
      })),
    by_area: [...areas.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 12)
      .map(([area, us]) => ({ area, self_ms: ms(us), self_pct: pct(us) })),
  };
}

/** The summary as an aligned text table (for stderr). */
export function formatSummary(s: ProfileSummary): string {
  const lines = [
    `CPU profile: ${s.total_ms} ms of samples${s.windowed ? " during the drain" : " (whole process lifetime)"}`,
    "  self%   self ms  function  (where)",
  ];
  for (const e of s.top)
    lines.push(`  ${e.self_pct.toFixed(1).padStart(5)}  ${e.self_ms.toFixed(0).padStart(8)}  ${e.function}  ${e.where}`);
  lines.push("  by area:");
  for (const a of s.by_area) lines.push(`  ${a.self_pct.toFixed(1).padStart(5)}  ${a.self_ms.toFixed(0).padStart(8)}  ${a.area}`);
  return lines.join("\n");
}

/**
 * The main thread's profile of a process: `--cpu-prof` writes one file per thread, named
 * CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile; thread 0 is the main thread (tsx's
 * module loader runs in thread 1).
 */
export function mainThreadProfile(dir: string, pid: number): string | null {
  const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile") && f.split(".")[3] === String(pid) && f.split(".")[4] === "0");
  return file ? join(dir, file) : null;
}

/**
 * Prints the top self-time functions of the stopped process `pid` during `windowUs`: the table
 * on stderr, one JSON row `{ scenario, run, file, ... }` on stdout; `log` says when the
 * process left no profile.
 */
export function reportCpuProfile(
  where: { dir: string; pid: number; windowUs: [number, number] },
  row: { scenario: string; run: number; top: number },
  log: (line: string) => void,
): void {
  const file = mainThreadProfile(where.dir, where.pid);
  if (!file) {
    log(`run ${row.run}: no main-thread .cpuprofile of process ${where.pid} in ${where.dir}`);
    return;
  }
  const summary = summarizeCpuProfile(file, row.top, where.windowUs);
  process.stderr.write(formatSummary(summary) + "\n");
  process.stdout.write(JSON.stringify({ scenario: row.scenario, run: row.run, file, ...summary }) + "\n");
}
