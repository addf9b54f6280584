/**
 * The Kafka Streams peer (../shared/peers/kafka-streams/run.sh): the same backlog (same N,
 * K, keys and values) drained by an exactly_once_v2 Streams app. Its progress goes to our
 * stderr; its one JSON line on stdout is returned.
 */
import { fileURLToPath } from "node:url";
import { runPeerScript } from "../peer_runner.js";

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
