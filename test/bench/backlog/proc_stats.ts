/**
 * Process and machine figures from Linux /proc: RSS and CPU time of a process (read from
 * outside, so a blocked event loop in that process cannot hide anything) and the machine's
 * busy share over an interval (the broker shares the machine with the runtime), and the
 * broker's pid when `npm run infra:up` started it.
 */
import { readFileSync } from "node:fs";
import { defaultPaths } from "../../../compose/infra/infra.js";
import { readPid } from "../../../compose/infra/proc.js";

const CLOCK_TICKS_PER_S = 100; // USER_HZ, the unit of /proc CPU times on Linux

/** Resident set size of a process in bytes; null when it is gone. */
export function rssBytes(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** User + system CPU seconds a process used so far; null when it is gone. */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // the fields after the command name, which is in parentheses and may contain spaces;
    // utime and stime are fields 14 and 15 of the line
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
  } catch {
    return null;
  }
}

/** CPU a process used between two cpuSeconds readings `secs` apart, percent of one core; NaN if either is missing. */
const cpuPercent = (before: number | null, after: number | null, secs: number): number =>
  before === null || after === null ? Number.NaN : (100 * (after - before)) / secs;

export interface MachineCpu {
  busy: number;
  total: number;
}

/** Cumulative CPU ticks of the whole machine (all cores), from the "cpu" line of /proc/stat. */
export function machineCpu(): MachineCpu | null {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!;
    const ticks = line.trim().split(/\s+/).slice(1).map(Number);
    const total = ticks.reduce((a, b) => a + b, 0);
    const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0); // idle + iowait
    return { busy: total - idle, total };
  } catch {
    return null;
  }
}

/** Busy share of all cores between two readings, percent. */
export function busyPercent(before: MachineCpu | null, after: MachineCpu | null): number {
  if (!before || !after || after.total <= before.total) return Number.NaN;
  return (100 * (after.busy - before.busy)) / (after.total - before.total);
}

/** Pid of the Kafka broker `npm run infra:up` started (checked against its command line), else null. */
export function brokerPid(): number | null {
  const rec = readPid(defaultPaths(), "kafka");
  if (!rec) return null;
  try {
    return readFileSync(`/proc/${rec.pid}/cmdline`, "utf8").includes(rec.match) ? rec.pid : null;
  } catch {
    return null;
  }
}

/** CPU used over a window: by a process and by the broker (100 = one core), by the machine (100 = all cores busy). */
export interface CpuUse {
  childCpuPct: number;
  brokerCpuPct: number;
  machineBusyPct: number;
}

/**
 * Takes the readings that open a window (e.g. a drain) on process `pid`, the broker and the
 * machine; `close` takes the closing ones (call it right when the window ends) and returns
 * the CPU used over its `secs` seconds. A broker restarted by someone else in the middle makes
 * the figures meaningless: `close` then logs a warning through `log`.
 */
export function openCpuWindow(pid: number): { close(secs: number, log: (line: string) => void): CpuUse } {
  const broker = brokerPid();
  const childAtOpen = cpuSeconds(pid);
  const brokerAtOpen = broker === null ? null : cpuSeconds(broker);
  const machineAtOpen = machineCpu();
  return {
    close(secs, log) {
      const childAtClose = cpuSeconds(pid);
      const brokerAtClose = broker === null ? null : cpuSeconds(broker);
      if (broker !== null && brokerPid() !== broker)
        log(`WARNING: the broker (pid ${broker}) was restarted during the drain; discard this run`);
      const machineAtClose = machineCpu();
      return {
        childCpuPct: cpuPercent(childAtOpen, childAtClose, secs),
        brokerCpuPct: cpuPercent(brokerAtOpen, brokerAtClose, secs),
        machineBusyPct: busyPercent(machineAtOpen, machineAtClose),
      };
    },
  };
}
