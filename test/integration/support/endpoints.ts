/**
 * Endpoints of the services under test, as exported by global-setup.ts (with the infra
 * defaults as fallback when a test file is run outside that setup).
 */
export const bootstrapServers = (): string[] =>
  (process.env.KVO_BOOTSTRAP_SERVERS ?? "127.0.0.1:9092")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

export const schemaRegistryUrl = (): string => process.env.KVO_SCHEMA_REGISTRY_URL ?? "http://127.0.0.1:8081/apis/ccompat/v7";

export const redisUrl = (): string => process.env.KVO_REDIS_URL ?? "redis://127.0.0.1:6379";
