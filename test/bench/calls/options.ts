/** Command-line options of the calls benchmark (see main.ts for what they mean). */
import { parseFlags } from "../flags.js";

export interface Options {
  /** Sequential calls in call-seq. */
  calls: number;
  /** How long call-c64 keeps 64 calls in flight, seconds. */
  seconds: number;
  /** Sequential naps in sleep100-seq. */
  sleeps: number;
  runs: number;
  partitions: number;
  peer: boolean;
  keep: boolean;
}

export const USAGE = "usage: npm run bench -- calls [--n N] [--seconds S] [--sleeps M] [--runs K] [--partitions P] [--no-peer] [--keep]";

export function parseArgs(args: string[]): Options {
  const o: Options = { calls: 300, seconds: 20, sleeps: 100, runs: 1, partitions: 4, peer: true, keep: false };
  parseFlags(args, USAGE, {
    "--n": (v) => (o.calls = v.int()),
    "--seconds": (v) => (o.seconds = v.int()),
    "--sleeps": (v) => (o.sleeps = v.int()),
    "--runs": (v) => (o.runs = v.int()),
    "--partitions": (v) => (o.partitions = v.int()),
    "--no-peer": () => (o.peer = false),
    "--keep": () => (o.keep = true),
  });
  return o;
}
