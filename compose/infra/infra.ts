/**
 * The orchestrator behind `npm run infra:up|down|status` and the integration tests'
 * globalSetup (`ensureInfra`). Services start in dependency order (Kafka, the Schema
 * Registry that stores its schemas in Kafka, Redis) and stop in reverse.
 *
 * Environment overrides make a service external (nothing is started or stopped for it):
 *   KVO_BOOTSTRAP_SERVERS, KVO_SCHEMA_REGISTRY_URL, KVO_REDIS_URL.
 * Other knobs: KVO_STATE_DIR (default <repo>/.kvo), KVO_CACHE_DIR (default <state>/cache),
 * KVO_KAFKA_HEAP (default 768m).
 */
import { readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { kafkaService } from "./kafka.js";
import { livePid, portOpen, pretty, readPid, runDir, withLock } from "./proc.js";
import { redisService } from "./redis.js";
import { registryService } from "./registry.js";
import type { InfraPaths, InfraService, ServiceStatus } from "./service.js";

export interface InfraEndpoints {
  bootstrapServers: string;
  schemaRegistryUrl: string;
  redisUrl: string;
}

/** Environment variable of each service's override, by service name. */
export const ENV_OVERRIDES: Record<string, string> = {
  kafka: "KVO_BOOTSTRAP_SERVERS",
  registry: "KVO_SCHEMA_REGISTRY_URL",
  redis: "KVO_REDIS_URL",
};

export function defaultPaths(): InfraPaths {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
  const stateDir = resolve(process.env.KVO_STATE_DIR ?? join(root, ".kvo"));
  const cacheDir = resolve(process.env.KVO_CACHE_DIR ?? join(stateDir, "cache"));
  return { root, stateDir, cacheDir };
}

/** The shared services in start order. Built per call so environment overrides are read fresh. */
export function services(): InfraService[] {
  const list = [kafkaService(), registryService(), redisService()];
  endpointWidth = Math.max(26, ...list.map((s) => s.endpoint().length));
  return list;
}

export type UpState = "started" | "already running" | "running (not started by infra:up)" | "external";

export interface UpResult extends ServiceStatus {
  name: string;
  state: UpState;
  seconds: number;
}

type Log = (line: string) => void;
const stdout: Log = (line) => process.stdout.write(line + "\n");

let endpointWidth = 26;

function describe(r: { name: string; endpoint: string; pid?: number; logFile?: string; external: boolean }, state: string): string {
  const parts = [r.name.padEnd(9), state.padEnd(18), r.endpoint.padEnd(endpointWidth)];
  if (r.external) parts.push(`(from ${ENV_OVERRIDES[r.name] ?? "environment"})`);
  if (r.pid !== undefined) parts.push(`pid ${r.pid}`);
  if (r.logFile) parts.push(`log ${pretty(r.logFile)}`);
  return parts.join(" ").trimEnd();
}

async function bringUp(svc: InfraService, paths: InfraPaths): Promise<UpResult> {
  const t0 = Date.now();
  const secs = () => Math.round((Date.now() - t0) / 100) / 10;
  if (svc.isExternal()) {
    if (!(await svc.isHealthy())) {
      throw new Error(
        `${svc.name}: ${ENV_OVERRIDES[svc.name] ?? "the environment"} points at ${svc.endpoint()} but it does not answer a health check`,
      );
    }
    return { name: svc.name, endpoint: svc.endpoint(), external: true, state: "external", seconds: secs() };
  }
  const pid = livePid(paths, svc.name);
  if (await svc.isHealthy()) {
    const state: UpState = pid !== undefined ? "already running" : "running (not started by infra:up)";
    const r: UpResult = { name: svc.name, endpoint: svc.endpoint(), external: false, state, seconds: secs() };
    if (pid !== undefined) {
      r.pid = pid;
      const rec = readPid(paths, svc.name);
      if (rec) r.logFile = rec.logFile;
    }
    return r;
  }
  await svc.install(paths);
  const st = await svc.start(paths);
  return { ...st, name: svc.name, state: "started", seconds: secs() };
}

/**
 * Starts every shared service that is not already answering. Idempotent: a second call
 * starts nothing and reports "already running".
 */
export async function up(opts: { log?: Log; paths?: InfraPaths } = {}): Promise<UpResult[]> {
  const log = opts.log ?? stdout;
  const paths = opts.paths ?? defaultPaths();
  return withLock(paths, "infra", async () => {
    const results: UpResult[] = [];
    for (const svc of services()) {
      let r: UpResult;
      try {
        r = await bringUp(svc, paths);
      } catch (err) {
        const msg = (err as Error).message;
        throw new Error(msg.startsWith(svc.name) ? msg : `${svc.name}: ${msg}`);
      }
      results.push(r);
      log(describe(r, r.state) + (r.state === "started" ? ` (${r.seconds}s)` : ""));
    }
    return results;
  });
}

/** Stops what infra:up started (by recorded pid / process group), in reverse order. */
export async function down(opts: { log?: Log; paths?: InfraPaths } = {}): Promise<void> {
  const log = opts.log ?? stdout;
  const paths = opts.paths ?? defaultPaths();
  await withLock(paths, "infra", async () => {
    const failures: string[] = [];
    for (const svc of [...services()].reverse()) {
      const base = { name: svc.name, endpoint: svc.endpoint(), external: svc.isExternal() };
      if (svc.isExternal()) {
        log(describe(base, "external, left alone"));
        continue;
      }
      const pid = livePid(paths, svc.name);
      if (pid === undefined) {
        const url = svc.endpoint();
        const m = /^(?:[a-z]+:\/\/)?([^:/]+):(\d+)/.exec(url);
        const busy = m ? await portOpen(m[1]!, Number(m[2])) : false;
        log(describe(base, busy ? "running (not started by infra:up), left alone" : "not running"));
        continue;
      }
      try {
        await svc.stop(paths);
        if (livePid(paths, svc.name) !== undefined) throw new Error(`pid ${pid} is still alive`);
        log(describe({ ...base, pid }, "stopped"));
      } catch (err) {
        failures.push(`${svc.name}: ${(err as Error).message}`);
      }
    }
    const others = otherInstances(paths);
    for (const o of others) log(`note: ${o.name} (pid ${o.pid}) was not started by infra:up and is still running`);
    if (failures.length) throw new Error(`infra:down could not stop everything:\n  ${failures.join("\n  ")}`);
  });
}

/** Live processes recorded under .kvo/run that are not one of the shared services (e.g. a benchmark's broker). */
function otherInstances(paths: InfraPaths): { name: string; pid: number }[] {
  const shared = new Set(services().map((s) => s.name));
  let files: string[] = [];
  try {
    files = readdirSync(runDir(paths));
  } catch {
    return [];
  }
  const out: { name: string; pid: number }[] = [];
  for (const f of files) {
    if (!f.endsWith(".pid")) continue;
    const name = f.slice(0, -4);
    if (shared.has(name)) continue;
    const pid = livePid(paths, name);
    if (pid !== undefined) out.push({ name, pid });
  }
  return out;
}

export interface StatusLine extends ServiceStatus {
  name: string;
  healthy: boolean;
}

export async function status(opts: { log?: Log; paths?: InfraPaths } = {}): Promise<StatusLine[]> {
  const log = opts.log ?? stdout;
  const paths = opts.paths ?? defaultPaths();
  const lines: StatusLine[] = [];
  for (const svc of services()) {
    const healthy = await svc.isHealthy();
    const line: StatusLine = { name: svc.name, endpoint: svc.endpoint(), external: svc.isExternal(), healthy };
    const pid = svc.isExternal() ? undefined : livePid(paths, svc.name);
    if (pid !== undefined) {
      line.pid = pid;
      const rec = readPid(paths, svc.name);
      if (rec) line.logFile = rec.logFile;
    }
    lines.push(line);
    const state = healthy
      ? line.external
        ? "external, healthy"
        : pid !== undefined
          ? "running"
          : "running (not ours)"
      : pid !== undefined
        ? "UNHEALTHY"
        : line.external
          ? "external, DOWN"
          : "stopped";
    log(describe(line, state));
  }
  for (const o of otherInstances(paths)) log(`${o.name.padEnd(9)} ${"running".padEnd(16)} (extra instance) pid ${o.pid}`);
  return lines;
}

/**
 * For tests: starts (through the same code as infra:up) whatever is not reachable, and
 * returns the endpoints. Services it starts keep running; `npm run infra:down` stops them.
 */
export async function ensureInfra(opts: { log?: Log; paths?: InfraPaths } = {}): Promise<InfraEndpoints> {
  const log = opts.log ?? stdout;
  const paths = opts.paths ?? defaultPaths();
  const svcs = services();
  const healthy = await Promise.all(svcs.map((s) => s.isHealthy()));
  if (!healthy.every(Boolean)) await up({ log, paths });
  return endpoints();
}

export function endpoints(): InfraEndpoints {
  const [kafka, registry, redis] = services();
  return {
    bootstrapServers: kafka!.endpoint(),
    schemaRegistryUrl: registry!.endpoint(),
    redisUrl: redis!.endpoint(),
  };
}

/** The endpoints as the environment variables the code and tests read. */
export function endpointEnv(e: InfraEndpoints): Record<string, string> {
  return {
    KVO_BOOTSTRAP_SERVERS: e.bootstrapServers,
    KVO_SCHEMA_REGISTRY_URL: e.schemaRegistryUrl,
    KVO_REDIS_URL: e.redisUrl,
  };
}
