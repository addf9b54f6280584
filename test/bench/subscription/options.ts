/** Command-line options of the subscription benchmark (see main.ts for what they mean). */
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { drainFlags, type DrainOptions } from "../backlog/options.js";
import { parseFlags } from "../flags.js";
import type { EgressFormat } from "./device.js";

const EGRESS_FORMATS: readonly EgressFormat[] = ["avro", "json"];

export interface Options extends DrainOptions {
  /** Also drain the same workload written straight to `<app>.invocations` (the hop's cost). */
  direct: boolean;
  /** Run the latency phase in the direct scenario too (the hop's latency cost). */
  directE2e: boolean;
  egress: EgressFormat;
  /** Latency phase: readings per second and how long; 0 seconds skips it. */
  rate: number;
  e2eSeconds: number;
  /** --cpu-prof: the subscription scenario's runtime runs under `node --cpu-prof` writing here. */
  cpuProfDir: string | null;
}

export const USAGE =
  "usage: npm run bench -- subscription [--n N] [--k K] [--runs R] [--partitions P] [--peer] [--no-direct] [--direct-e2e] " +
  "[--egress avro|json] [--rate R] [--e2e-seconds S] [--cpu-prof [dir]] [--runtime-options JSON] [--stall-timeout S] [--keep]";

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));

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
    cpuProfDir: null,
    runtimeOptions: undefined,
    stallMs: 300_000,
    keep: false,
  };
  parseFlags(args, USAGE, {
    ...drainFlags(o),
    "--no-direct": () => (o.direct = false),
    "--direct-e2e": () => (o.directE2e = true),
    "--egress": (v) => (o.egress = v.oneOf(EGRESS_FORMATS)),
    "--rate": (v) => (o.rate = v.int()),
    "--e2e-seconds": (v) => (o.e2eSeconds = v.int(0)),
    "--cpu-prof": (v) => {
      const dir = v.optional();
      o.cpuProfDir =
        dir !== undefined
          ? resolve(dir)
          : join(repoRoot, ".kvo", "profiles", `subscription-${new Date().toISOString().replace(/[:.]/g, "-")}`);
    },
  });
  return o;
}
