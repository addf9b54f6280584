import { defineConfig } from "vitest/config";

/**
 * Two projects:
 *  - unit: test/unit, in-memory, no services, parallel.
 *  - integration: test/integration, real Kafka / Schema Registry / Redis. Its globalSetup
 *    starts whatever is not reachable through the same code as `npm run infra:up` and
 *    exports the endpoints as KVO_BOOTSTRAP_SERVERS, KVO_SCHEMA_REGISTRY_URL, KVO_REDIS_URL.
 *    Its files run one at a time, in one forked worker (2-core machines also host the
 *    broker); KVO_IT_CONCURRENCY=2 lets them share the global worker limit instead.
 */
const itConcurrency = Math.max(1, Number(process.env.KVO_IT_CONCURRENCY ?? 1) || 1);

export default defineConfig({
  test: {
    teardownTimeout: 30_000,
    maxWorkers: Math.max(2, itConcurrency),
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          environment: "node",
          testTimeout: 10_000,
          hookTimeout: 10_000,
        },
      },
      {
        extends: true,
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          environment: "node",
          globalSetup: ["test/integration/support/global-setup.ts"],
          testTimeout: 90_000,
          hookTimeout: 120_000,
          pool: "forks",
          poolOptions: {
            forks: { singleFork: itConcurrency === 1 },
          },
        },
      },
    ],
  },
});
