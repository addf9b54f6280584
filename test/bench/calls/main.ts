/**
 * Calls benchmark: `npm run bench -- calls [options]`.
 *
 * What an object → object call and a durable timer cost. A runtime process (app.ts) hosts
 * `Caller` and `Callee` (handlers.ts); this process invokes `Caller` through the Kafka client.
 * Scenarios, per run on a fresh app:
 *   call-seq      N sequential `Caller.go` (over 50 keys), each awaiting
 *                 `ctx.object(callee, key).bump(1)` (a state get + set).
 *                 call_p50/p99_ms: the call inside the handler, wall clock from right before
 *                 the call to right after it resolved: request written in the caller's
 *                 transaction, read by the callee's partition, callee run and committed with
 *                 its completion record, completion read by the caller's partition.
 *                 e2e_p50/p99_ms: client-observed, send → reply (what the Restate peer reports).
 *   call-c64      64 `Caller.go` in flight (over 1,000 keys) for --seconds: per_s completed
 *                 calls per second, e2e and call percentiles, commits_per_call.
 *   sleep100-seq  M sequential `Caller.timedNap`: `ctx.date.now()`, `ctx.sleep(100)`,
 *                 `ctx.run(() => Date.now())`. lateness = wake − (date.now() + 100 ms) (includes
 *                 the commit of the date entry before the sleep starts); timer_lateness = wake −
 *                 (wall clock at ctx.sleep() + 100 ms), the timer's own. Then M sequential
 *                 `Caller.nap` (only the sleep, the peer's handler): e2e_minus_100 =
 *                 client-observed latency − 100 ms, how the peer's lateness is measured.
 * Then (unless --no-peer) the Restate peer (restate.ts) on the same workloads in the same run,
 * its lines as "restate-<workload>", and
 *   {"scenario":"calls-vs-restate", call_seq_p50_ratio (KVO e2e p50 / Restate p50: both
 *    client-observed), call_c64_per_s_ratio (KVO / Restate), sleep_lateness_p99_ms (KVO, in the
 *    handler), restate_sleep_lateness_p99_ms (Restate p99 − 100), ...}
 * The peer runs closed loops of a fixed count (500 sequential, 5,000 at 64), KVO's c64 a fixed
 * duration: rates compare, counts differ.
 *
 * Options:
 *   --n N (300)        sequential calls in call-seq
 *   --seconds S (20)   duration of call-c64
 *   --sleeps M (100)   sequential naps of each kind in sleep100-seq (the peer's count)
 *   --runs K (1)       K runs (KVO and peer); with K > 1 every run's rows, then their medians
 *   --partitions P (4) partitions of the app's topics
 *   --no-peer          skip the Restate peer
 *   --keep             keep the apps' topics (deleted by default)
 */
import { benchBrokers } from "../brokers.js";
import { median, medianRows, round } from "../stats.js";
import { parseArgs } from "./options.js";
import { runRestatePeer, type PeerRun } from "./restate.js";
import { cleanup, log, runOnce, type Row, type RunRows } from "./scenarios.js";

const print = (row: Record<string, unknown>): void => void process.stdout.write(JSON.stringify(row) + "\n");

export async function main(args: string[]): Promise<void> {
  const o = parseArgs(args);
  const brokers = await benchBrokers();
  const stamp = Date.now().toString(36);
  const runs: RunRows[] = [];
  for (let run = 1; run <= o.runs; run++) {
    const app = `bench-calls-${stamp}-${run}`;
    try {
      const rows = await runOnce(app, brokers, o);
      runs.push(rows);
      if (o.runs > 1) for (const [scenario, row] of scenarioRows(rows)) print({ scenario, run, ...row });
    } finally {
      if (!o.keep) await cleanup(app, brokers);
    }
  }
  const medians = (pick: (r: RunRows) => Row): Row => medianRows(runs.map(pick), 3);
  const kvo: RunRows = { callSeq: medians((r) => r.callSeq), callC64: medians((r) => r.callC64), sleepSeq: medians((r) => r.sleepSeq) };
  for (const [scenario, row] of scenarioRows(kvo)) print({ scenario, runs: o.runs, ...row });
  if (!o.peer) return;

  const peers: PeerRun[] = [];
  for (let run = 1; run <= o.runs; run++) {
    log(`Restate peer run ${run}: PEER_WORKLOADS=call,sleep run.sh`);
    const peer = await runRestatePeer();
    peers.push(peer);
    for (const line of peer.lines) print({ scenario: `restate-${String(line.workload)}`, ...(o.runs > 1 && { run }), ...line });
  }
  const peerMedian = (pick: (p: PeerRun) => number): number => median(peers.map(pick));
  const restate = {
    callSeqP50: peerMedian((p) => p.callSeq.p50),
    callC64PerS: peerMedian((p) => p.callC64.rps),
    sleepLatenessP50: peerMedian((p) => p.sleepSeq.p50) - 100,
    sleepLatenessP99: peerMedian((p) => p.sleepSeq.p99) - 100,
  };
  print({
    scenario: "calls-vs-restate",
    runs: o.runs,
    call_seq_p50_ratio: round(kvo.callSeq.e2e_p50_ms! / restate.callSeqP50, 2),
    call_c64_per_s_ratio: round(kvo.callC64.per_s! / restate.callC64PerS, 2),
    sleep_lateness_p99_ms: kvo.sleepSeq.lateness_p99_ms!,
    restate_sleep_lateness_p99_ms: round(restate.sleepLatenessP99, 1),
    // the figures behind the ratios, and KVO's lateness measured as the peer's is (plain nap, client-observed − 100)
    kvo_call_seq_e2e_p50_ms: kvo.callSeq.e2e_p50_ms!,
    kvo_call_seq_call_p50_ms: kvo.callSeq.call_p50_ms!,
    restate_call_seq_p50_ms: restate.callSeqP50,
    kvo_call_c64_per_s: kvo.callC64.per_s!,
    restate_call_c64_per_s: restate.callC64PerS,
    kvo_sleep_e2e_minus_100_p99_ms: kvo.sleepSeq.e2e_minus_100_p99_ms!,
    kvo_sleep_e2e_minus_100_p50_ms: kvo.sleepSeq.e2e_minus_100_p50_ms!,
    restate_sleep_lateness_p50_ms: round(restate.sleepLatenessP50, 1),
  });
}

function scenarioRows(rows: RunRows): Array<[string, Row]> {
  return [
    ["call-seq", rows.callSeq],
    ["call-c64", rows.callC64],
    ["sleep100-seq", rows.sleepSeq],
  ];
}
