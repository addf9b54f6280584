/**
 * The Restate peer (../shared/peers/restate/run.sh) on the same workloads:
 * `PEER_WORKLOADS=call,sleep` prints one JSON line each for `call-seq` (Caller.call awaits
 * Counter.bump, 500 sequential calls over 50 keys), `call-c64` (64 in flight, 5,000 calls over
 * 1,000 keys) and `sleep100-seq` (Caller.nap sleeps 100 ms, 100 sequential), with client-observed
 * latencies over its HTTP ingress: p50/p90/p99 in ms and rps (as strings).
 *
 * The peer installs Restate into WORK_DIR on first use and reuses it; its server data
 * (`WORK_DIR/data`) is removed before each run, so every run starts from an empty server.
 */
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runPeerScript } from "../peer_runner.js";

export const PEER_SCRIPT = fileURLToPath(new URL("../../../../shared/peers/restate/run.sh", import.meta.url));
const WORK_DIR = join(tmpdir(), "kvo-bench-calls-restate");

/** One workload's figures, as numbers. */
export interface PeerRow {
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  n: number;
  conc: number;
}

export interface PeerRun {
  callSeq: PeerRow;
  callC64: PeerRow;
  sleepSeq: PeerRow;
  /** The peer's lines as printed, for the record. */
  lines: Array<Record<string, unknown>>;
}

export async function runRestatePeer(): Promise<PeerRun> {
  rmSync(join(WORK_DIR, "data"), { recursive: true, force: true });
  const { lines, stdout } = await runPeerScript({
    name: "the Restate peer",
    script: PEER_SCRIPT,
    args: [WORK_DIR],
    env: { PEER_WORKLOADS: "call,sleep" },
    timeoutMs: 15 * 60_000,
    missingHint: "or run with --no-peer",
    failureHint: `the server's log is ${WORK_DIR}/server.log`,
  });
  const row = (workload: string): PeerRow => {
    const line = lines.find((l) => l.workload === workload);
    if (!line) throw new Error(`the Restate peer printed no "${workload}" line; stdout: ${stdout.trim()}`);
    const num = (field: string): number => {
      const v = Number(line[field]);
      if (!Number.isFinite(v)) throw new Error(`the Restate peer's "${workload}" line has no numeric ${field}: ${JSON.stringify(line)}`);
      return v;
    };
    return { rps: num("rps"), p50: num("p50"), p90: num("p90"), p99: num("p99"), n: num("n"), conc: num("conc") };
  };
  return { callSeq: row("call-seq"), callC64: row("call-c64"), sleepSeq: row("sleep100-seq"), lines };
}
