/** Command-line options of the subscription benchmark (see main.ts for what they mean). */
import type { EgressFormat } from "./device.js";

export interface Options {
  records: number;
  keys: number;
  runs: number;
  partitions: number;
  peer: boolean;
  /** Also drain the same workload written straight to `<app>.invocations` (the hop's cost). */
  direct: boolean;
  /** Run the latency phase in the direct scenario too (the hop's latency cost). */
  directE2e: boolean;
  egress: EgressFormat;
  /** Latency phase: readings per second and how long; 0 seconds skips it. */
  rate: number;
  e2eSeconds: number;
  runtimeOptions: string | undefined;
  stallMs: number;
  keep: boolean;
}

export const USAGE =
  "usage: npm run bench -- subscription [--n N] [--k K] [--runs R] [--partitions P] [--peer] [--no-direct] [--direct-e2e] " +
  "[--egress avro|json] [--rate R] [--e2e-seconds S] [--runtime-options JSON] [--stall-timeout S] [--keep]";

function positiveInt(name: string, raw: string | undefined): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}\n${USAGE}`);
  return n;
}

function nonNegativeInt(name: string, raw: string | undefined): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(raw)}\n${USAGE}`);
  return n;
}

export function parseArgs(args: string[]): Options {
  const o: Options = {
    records: 1_000_000,
    keys: 10_000,
    runs: 1,
    partitions: 6,
    peer: false,
    direct: true,
    directE2e: false,
    egress: "avro",
    rate: 5_000,
    e2eSeconds: 20,
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
      case "--no-direct":
        o.direct = false;
        break;
      case "--direct-e2e":
        o.directE2e = true;
        break;
      case "--egress": {
        const v = value();
        if (v !== "avro" && v !== "json") throw new Error(`--egress must be avro or json, got ${JSON.stringify(v)}\n${USAGE}`);
        o.egress = v;
        break;
      }
      case "--rate":
        o.rate = positiveInt("--rate", value());
        break;
      case "--e2e-seconds":
        o.e2eSeconds = nonNegativeInt("--e2e-seconds", value());
        break;
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
