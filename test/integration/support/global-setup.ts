/**
 * vitest globalSetup of the integration project: makes sure Kafka, the Schema Registry and
 * Redis answer (starting what is missing through the same code as `npm run infra:up`), then
 * hands their endpoints to the test workers through environment variables and `inject()`.
 * Services it starts keep running after the tests; `npm run infra:down` stops them.
 */
import type { TestProject } from "vitest/node";
import { endpointEnv, ensureInfra, type InfraEndpoints } from "../../../compose/infra/infra.js";

declare module "vitest" {
  export interface ProvidedContext {
    kvoEndpoints: InfraEndpoints;
  }
}

export default async function setup(project: TestProject): Promise<void> {
  const t0 = Date.now();
  const endpoints = await ensureInfra({ log: (line) => process.stdout.write(`[infra] ${line}\n`) });
  // Workers are created after globalSetup and inherit this environment.
  for (const [key, value] of Object.entries(endpointEnv(endpoints))) process.env[key] = value;
  project.provide("kvoEndpoints", endpoints);
  process.stdout.write(
    `[infra] ready in ${((Date.now() - t0) / 1000).toFixed(1)}s: kafka ${endpoints.bootstrapServers}, ` +
      `registry ${endpoints.schemaRegistryUrl}, redis ${endpoints.redisUrl}\n`,
  );
}
