/** The Kafka brokers a benchmark suite runs against. */
import { ensureInfra } from "../../compose/infra/infra.js";

/**
 * KVO_BOOTSTRAP_SERVERS when it is set; otherwise the local services as `npm run infra:up`
 * starts them (started only when they do not answer; progress on stderr).
 */
export async function benchBrokers(): Promise<string[]> {
  const configured = (process.env.KVO_BOOTSTRAP_SERVERS ?? "").split(",").filter(Boolean);
  if (configured.length > 0) return configured;
  const endpoints = await ensureInfra({ log: (line) => process.stderr.write(`[infra] ${line}\n`) });
  return endpoints.bootstrapServers.split(",");
}
