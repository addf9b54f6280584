/**
 * The Kafka Streams peer (../shared/peers/kafka-streams/run.sh): the same backlog (same N,
 * K, keys and values) drained by an exactly_once_v2 Streams app. Its progress goes to our
 * stderr; its one JSON line on stdout is returned.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const PEER_SCRIPT = fileURLToPath(new URL("../../../../shared/peers/kafka-streams/run.sh", import.meta.url));

export interface PeerResult {
  per_s: number;
  [field: string]: unknown;
}

export async function runKafkaStreamsPeer(brokers: string[], records: number, keys: number): Promise<PeerResult> {
  if (!existsSync(PEER_SCRIPT))
    throw new Error(`the Kafka Streams peer is not there: ${PEER_SCRIPT} (expected next to this repository, in ../shared)`);
  const stdout = await new Promise<string>((resolve, reject) => {
    const child = spawn("bash", [PEER_SCRIPT, String(records), String(keys)], {
      env: { ...process.env, KVO_BOOTSTRAP_SERVERS: brokers.join(",") },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")));
    const timer = setTimeout(() => child.kill("SIGTERM"), 30 * 60_000);
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else
        reject(
          new Error(
            `${PEER_SCRIPT} ${records} ${keys} failed (code ${code}, signal ${signal}); its stderr is above. stdout: ${out.trim()}`,
          ),
        );
    });
  });
  const line = stdout.split("\n").find((l) => l.startsWith("{"));
  if (!line) throw new Error(`the Kafka Streams peer printed no JSON line; stdout: ${stdout.trim()}`);
  const row = JSON.parse(line) as PeerResult;
  if (typeof row.per_s !== "number") throw new Error(`the Kafka Streams peer's line has no per_s: ${line}`);
  return row;
}
