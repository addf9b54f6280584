/** Command-line options of the backlog benchmark (see main.ts for what they mean). */
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { integer, parseFlags, type FlagHandler } from "../flags.js";

/**
 * The options of a drain of N records over K keys by a runtime process, which this suite
 * shares with the subscription suite (flags: `drainFlags`).
 */
export interface DrainOptions {
  /** --n: records in the backlog. */
  records: number;
  /** --k: distinct keys. */
  keys: number;
  runs: number;
  partitions: number;
  /** --peer: also run the Kafka Streams peer. */
  peer: boolean;
  /** --runtime-options: JSON merged into createRuntime's options. */
  runtimeOptions: string | undefined;
  /** --stall-timeout, in ms: fail when nothing was committed for this long. */
  stallMs: number;
  keep: boolean;
}

export interface Options extends DrainOptions {
  cpuProfDir: string | null;
}

export const USAGE =
  "usage: npm run bench -- backlog [--n N] [--k K] [--runs R] [--partitions P] [--peer] [--cpu-prof [dir]] " +
  "[--runtime-options JSON] [--stall-timeout S] [--keep]";

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));

export function parseArgs(args: string[]): Options {
  const o: Options = {
    records: integer("KVO_BENCH_BACKLOG_N", process.env.KVO_BENCH_BACKLOG_N ?? "1000000", USAGE),
    keys: integer("KVO_BENCH_BACKLOG_K", process.env.KVO_BENCH_BACKLOG_K ?? "10000", USAGE),
    runs: 1,
    partitions: 6,
    peer: false,
    cpuProfDir: null,
    runtimeOptions: undefined,
    stallMs: 300_000,
    keep: false,
  };
  parseFlags(args, USAGE, {
    ...drainFlags(o),
    "--cpu-prof": (v) => {
      const dir = v.optional();
      o.cpuProfDir = dir !== undefined ? resolve(dir) : defaultProfileDir();
    },
  });
  return o;
}

/** The flags of DrainOptions, each setting its field of `o`. */
export function drainFlags(o: DrainOptions): Record<string, FlagHandler> {
  return {
    "--n": (v) => (o.records = v.int()),
    "--k": (v) => (o.keys = v.int()),
    "--runs": (v) => (o.runs = v.int()),
    "--partitions": (v) => (o.partitions = v.int()),
    "--peer": () => (o.peer = true),
    "--runtime-options": (v) => (o.runtimeOptions = v.json()),
    "--stall-timeout": (v) => (o.stallMs = v.int() * 1000),
    "--keep": () => (o.keep = true),
  };
}

/** Where `--cpu-prof` without a directory writes: one fresh directory per invocation under .kvo/profiles. */
function defaultProfileDir(): string {
  return join(repoRoot, ".kvo", "profiles", `backlog-${new Date().toISOString().replace(/[:.]/g, "-")}`);
}
