/**
 * `--cpu-prof`: the self-time table of the subscription scenario's runtime process during the
 * drain (relay and processors share its one JavaScript thread), summarised by the backlog
 * suite's cpu_profile.ts.
 */
import { formatSummary, mainThreadProfile, summarizeCpuProfile } from "../backlog/cpu_profile.js";
import { log } from "./measure.js";

/** Prints the top self-time functions of the stopped process `pid` during `windowUs` (stderr, and one JSON row). */
export function reportProfile(dir: string, pid: number, run: number, windowUs: [number, number]): void {
  const file = mainThreadProfile(dir, pid);
  if (!file) {
    log(`run ${run}: no main-thread .cpuprofile of process ${pid} in ${dir}`);
    return;
  }
  const summary = summarizeCpuProfile(file, 25, windowUs);
  process.stderr.write(formatSummary(summary) + "\n");
  process.stdout.write(JSON.stringify({ scenario: "subscription-cpu-profile", run, file, ...summary }) + "\n");
}
