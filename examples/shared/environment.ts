/**
 * Where the demos run: the local services (started like `npm run infra:up` when they are not
 * running, or taken from KVO_BOOTSTRAP_SERVERS / KVO_SCHEMA_REGISTRY_URL), and a fresh app name
 * per run so that a re-run never finds the consumer groups or state of an earlier one.
 */
import { ensureInfra } from "../../compose/infra/infra.js";

export interface DemoEnvironment {
  brokers: string[];
  schemaRegistryUrl: string;
}

export async function demoEnvironment(): Promise<DemoEnvironment> {
  const endpoints = await ensureInfra({ log: (line) => console.log(`[infra] ${line}`) });
  return { brokers: endpoints.bootstrapServers.split(","), schemaRegistryUrl: endpoints.schemaRegistryUrl };
}

/** `<prefix>-<base36 time>`: unique per run, and still a valid app name (topic prefix, group id). */
export function uniqueAppName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}`;
}
