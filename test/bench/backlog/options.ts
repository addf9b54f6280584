/** Command-line options of the backlog benchmark (see main.ts for what they mean). */
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export interface Options {
  records: number;
  keys: number;
  runs: number;
  partitions: number;
  peer: boolean;
  cpuProfDir: string | null;
  runtimeOptions: string | undefined;
  stallMs: number;
  keep: boolean;
}

export const USAGE =
  "usage: npm run bench -- backlog [--n N] [--k K] [--runs R] [--partitions P] [--peer] [--cpu-prof [dir]] " +
  "[--runtime-options JSON] [--stall-timeout S] [--keep]";

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));

function positiveInt(name: string, raw: string | undefined): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}\n${USAGE}`);
  return n;
}

export function parseArgs(args: string[]): Options {
  const o: Options = {
    records: positiveInt("KVO_BENCH_BACKLOG_N", process.env.KVO_BENCH_BACKLOG_N ?? "1000000"),
    keys: positiveInt("KVO_BENCH_BACKLOG_K", process.env.KVO_BENCH_BACKLOG_K ?? "10000"),
    runs: 1,
    partitions: 6,
    peer: false,
    cpuProfDir: null,
    runtimeOptions: undefined,
    stallMs: 300_000,
    keep: false,
  };
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]!;
    const value = (): string => {
      const v = args[++i];
      if (v === undefined) throw new Error(`${flag} needs a value\n${USAGE}`);
      return v;
    };
    switch (flag) {
      case "--n":
        o.records = positiveInt("--n", value());
        break;
      case "--k":
        o.keys = positiveInt("--k", value());
        break;
      case "--runs":
        o.runs = positiveInt("--runs", value());
        break;
      case "--partitions":
        o.partitions = positiveInt("--partitions", value());
        break;
      case "--peer":
        o.peer = true;
        break;
      case "--cpu-prof": {
        const next = args[i + 1];
        o.cpuProfDir =
          next !== undefined && !next.startsWith("--")
            ? resolve(args[++i]!)
            : join(repoRoot, ".kvo", "profiles", `backlog-${new Date().toISOString().replace(/[:.]/g, "-")}`);
        break;
      }
      case "--runtime-options": {
        const raw = value();
        try {
          JSON.parse(raw);
        } catch (e) {
          throw new Error(`--runtime-options is not valid JSON (${(e as Error).message}): ${raw}`);
        }
        o.runtimeOptions = raw;
        break;
      }
      case "--stall-timeout":
        o.stallMs = positiveInt("--stall-timeout", value()) * 1000;
        break;
      case "--keep":
        o.keep = true;
        break;
      default:
        throw new Error(`unknown option ${flag}\n${USAGE}`);
    }
  }
  return o;
}
