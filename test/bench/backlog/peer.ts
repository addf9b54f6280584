/**
 * The Kafka Streams peer (../shared/peers/kafka-streams/run.sh): the same backlog (same N,
 * K, keys and values) drained by an exactly_once_v2 Streams app. Its progress goes to our
 * stderr; its one JSON line on stdout is returned.
 */
import { fileURLToPath } from "node:url";
import { runPeerScript } from "../peer_runner.js";
import { median, round } from "../stats.js";

export const PEER_SCRIPT = fileURLToPath(new URL("../../../../shared/peers/kafka-streams/run.sh", import.meta.url));

export interface PeerResult {
  per_s: number;
  [field: string]: unknown;
}

export async function runKafkaStreamsPeer(brokers: string[], records: number, keys: number): Promise<PeerResult> {
  const { lines, stdout } = await runPeerScript({
    name: "the Kafka Streams peer",
    script: PEER_SCRIPT,
    args: [String(records), String(keys)],
    env: { KVO_BOOTSTRAP_SERVERS: brokers.join(",") },
    timeoutMs: 30 * 60_000,
  });
  const row = lines[0] as PeerResult | undefined;
  if (!row) throw new Error(`the Kafka Streams peer printed no JSON line; stdout: ${stdout.trim()}`);
  if (typeof row.per_s !== "number") throw new Error(`the Kafka Streams peer's line has no per_s: ${JSON.stringify(row)}`);
  return row;
}

/** The backlog both sides drain (N records over K keys) and how often the peer runs on it. */
export interface Backlog {
  records: number;
  keys: number;
  runs: number;
}

/**
 * Runs the peer `runs` times on the same backlog (each run's line goes to `print` with its run
 * number, its progress to `log`) and returns the comparison row's common fields: `scenario`, n,
 * k, runs, kvo_per_s (`kvoPerS`, KVO's median rate on that backlog), kafka_streams_per_s (the
 * peer's median) and ratio (KVO / peer).
 */
export async function compareWithKafkaStreams(
  brokers: string[],
  scenario: string,
  c: Backlog,
  kvoPerS: number,
  out: { log: (line: string) => void; print: (row: Record<string, unknown>) => void },
): Promise<Record<string, number | string>> {
  const rates: number[] = [];
  for (let run = 1; run <= c.runs; run++) {
    out.log(`Kafka Streams peer run ${run}: run.sh ${c.records} ${c.keys}`);
    const peer = await runKafkaStreamsPeer(brokers, c.records, c.keys);
    out.print({ ...peer, run });
    rates.push(peer.per_s);
  }
  const peerPerS = median(rates);
  return {
    scenario,
    n: c.records,
    k: c.keys,
    runs: c.runs,
    kvo_per_s: kvoPerS,
    kafka_streams_per_s: round(peerPerS, 0),
    ratio: round(kvoPerS / peerPerS, 3),
  };
}
