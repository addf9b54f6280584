/** Command-line options of the calls benchmark (see main.ts for what they mean). */

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

function positiveInt(name: string, raw: string | undefined): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}\n${USAGE}`);
  return n;
}

export function parseArgs(args: string[]): Options {
  const o: Options = { calls: 300, seconds: 20, sleeps: 100, runs: 1, partitions: 4, peer: true, keep: false };
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]!;
    const value = (): string => {
      const v = args[++i];
      if (v === undefined) throw new Error(`${flag} needs a value\n${USAGE}`);
      return v;
    };
    switch (flag) {
      case "--n":
        o.calls = positiveInt("--n", value());
        break;
      case "--seconds":
        o.seconds = positiveInt("--seconds", value());
        break;
      case "--sleeps":
        o.sleeps = positiveInt("--sleeps", value());
        break;
      case "--runs":
        o.runs = positiveInt("--runs", value());
        break;
      case "--partitions":
        o.partitions = positiveInt("--partitions", value());
        break;
      case "--no-peer":
        o.peer = false;
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
