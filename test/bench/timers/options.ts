/** Command-line options of the timers benchmark (see main.ts for what they mean). */
import { parseFlags } from "../flags.js";

export type TimerKind = "send" | "sleep";

export interface Options {
  /** Timers held pending at once. */
  n: number;
  kind: TimerKind;
  /** Delayed sends per scheduling invocation (kind send). */
  batch: number;
  partitions: number;
  /** --max-old-space-size of the runtime process, MB (0: Node's default). */
  heapCapMb: number;
  /** Seconds from the start until the first timer is due (all must be pending by then). */
  windowStartS: number;
  /** The due times are spread over this many seconds. */
  spreadS: number;
  keep: boolean;
}

export const USAGE =
  "usage: npm run bench -- timers [--n N] [--kind send|sleep] [--batch B] [--partitions P] [--heap-cap-mb MB] " +
  "[--window-start-s S] [--spread-s S] [--keep]";

export function parseArgs(args: string[]): Options {
  const o: Options = { n: 1_000_000, kind: "send", batch: 100, partitions: 1, heapCapMb: 0, windowStartS: 0, spreadS: 60, keep: false };
  parseFlags(args, USAGE, {
    "--n": (v) => (o.n = v.int()),
    "--kind": (v) => (o.kind = v.oneOf(["send", "sleep"] as const)),
    "--batch": (v) => (o.batch = v.int()),
    "--partitions": (v) => (o.partitions = v.int()),
    "--heap-cap-mb": (v) => (o.heapCapMb = v.int(0)),
    "--window-start-s": (v) => (o.windowStartS = v.int()),
    "--spread-s": (v) => (o.spreadS = v.int()),
    "--keep": () => (o.keep = true),
  });
  if (o.n % o.batch !== 0) throw new Error(`--n (${o.n}) must be a multiple of --batch (${o.batch})\n${USAGE}`);
  // Default: room to make all N pending first. Measured on the loaded 2-core machine: delayed
  // sends ~2,900-8,000/s (1M in 277-349 s), suspended sleeps ~1,200/s (at most
  // maxInFlightPerPartition new invocations per suspendAfterMs per partition).
  if (o.windowStartS === 0) o.windowStartS = Math.max(30, Math.ceil(o.n / (o.kind === "send" ? 2_000 : 800)));
  return o;
}
