/**
 * The Confluent-compatible Schema Registry, started natively: Apicurio Registry (JVM
 * distribution from Maven Central, Java 17), with its storage in Kafka ("kafkasql": a
 * journal topic that each registry process replays into an in-memory H2 view).
 *
 * Clients use the Confluent API under `/apis/ccompat/v7`, so `endpoint()` is
 * `http://127.0.0.1:8081/apis/ccompat/v7`; `new SchemaRegistry({ host: endpoint() })` of
 * @kafkajs/confluent-schema-registry works with that path.
 *
 * Install: `mvn dependency:copy` of io.apicurio:apicurio-registry-app:<version>:tar.gz:all
 * (pinned, SHA-256 checked), unpacked into `<cache>/apicurio-registry-<version>/`, marked
 * complete by `.complete`. Settings: compose/registry/application.properties, copied on each
 * start to `.kvo/conf/<name>/config/application.properties` (Quarkus reads `config/` of its
 * working directory); the Kafka bootstrap address and the port are passed as system
 * properties, which take precedence over that file.
 *
 * Environment: KVO_SCHEMA_REGISTRY_URL (external registry: nothing is started or stopped),
 * KVO_BOOTSTRAP_SERVERS (the Kafka it stores in, default 127.0.0.1:9092),
 * KVO_REGISTRY_HEAP (max heap, default 384m), KVO_JAVA_HOME / JAVA_HOME.
 */
import { createHash, randomUUID } from "node:crypto";
import { copyFileSync, createReadStream, existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { InfraPaths, InfraService, ServiceStatus } from "./service.js";
import {
  confDir,
  dataDir,
  liveRecord,
  logDir,
  onPath,
  portOpen,
  portsFree,
  pretty,
  run,
  startDetachedAndWait,
  stopRecorded,
  waitHealthy,
} from "./proc.js";

/** Pinned. 3.0.x is the newest Apicurio line compiled for Java 17 (3.3.x needs Java 21). */
export const APICURIO_VERSION = "3.0.9";
/** SHA-256 of apicurio-registry-app-3.0.9-all.tar.gz as published on Maven Central. */
const DIST_SHA256 = "2b28181501a20cbf6efcd77f9b7153908fc01f3d3a7c32024c0bd9e1b04c8a43";
const DIST_ARTIFACT = `io.apicurio:apicurio-registry-app:${APICURIO_VERSION}:tar.gz:all`;
const RUNNER_JAR = `apicurio-registry-app-${APICURIO_VERSION}-runner.jar`;

/** Path of the Confluent-compatible API on an Apicurio registry. */
export const CCOMPAT_PATH = "/apis/ccompat/v7";

const HOST = "127.0.0.1";
const HEALTH_SUBJECT = "kvo-infra-health-value";
const HEALTH_SCHEMA = JSON.stringify({
  type: "record",
  name: "Health",
  namespace: "kvo.infra",
  fields: [{ name: "ok", type: "boolean" }],
});
const CONFLUENT_JSON = "application/vnd.schemaregistry.v1+json";

export interface RegistryOptions {
  /** HTTP port (default 8081). */
  port?: number;
  /** Instance name: config, log and pid file are keyed by it (default "registry"). */
  name?: string;
  /** Kafka the registry stores in (default $KVO_BOOTSTRAP_SERVERS or 127.0.0.1:9092). */
  bootstrapServers?: string;
  /** Max heap, e.g. "384m" (default $KVO_REGISTRY_HEAP or 384m). */
  heap?: string;
}

/** Cache folder holding the unpacked distribution; `.complete` is written only after a full unpack. */
export function registryCacheDir(paths: InfraPaths): string {
  return join(paths.cacheDir, `apicurio-registry-${APICURIO_VERSION}`);
}

function javaBin(): string {
  for (const home of [process.env.KVO_JAVA_HOME, process.env.JAVA_HOME]) {
    if (home && existsSync(join(home, "bin", "java"))) return join(home, "bin", "java");
  }
  const p = onPath("java");
  if (!p) throw new Error("java not found: the Schema Registry needs Java 17+ (Debian: apt-get install -y openjdk-17-jre-headless)");
  return p;
}

async function sha256(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

export function registryService(opts: RegistryOptions = {}): InfraService {
  const name = opts.name ?? "registry";
  const port = opts.port ?? 8081;
  const isDefault = opts.name === undefined && opts.port === undefined;
  const heap = opts.heap ?? process.env.KVO_REGISTRY_HEAP ?? "384m";
  const bootstrap = (): string => opts.bootstrapServers ?? process.env.KVO_BOOTSTRAP_SERVERS ?? "127.0.0.1:9092";

  const external = (): boolean => isDefault && !!process.env.KVO_SCHEMA_REGISTRY_URL;
  const baseUrl = (): string => `http://${HOST}:${port}`;
  const endpoint = (): string => (external() ? process.env.KVO_SCHEMA_REGISTRY_URL!.replace(/\/+$/, "") : `${baseUrl()}${CCOMPAT_PATH}`);

  const files = (paths: InfraPaths) => {
    const dist = registryCacheDir(paths);
    const conf = join(confDir(paths), name);
    return {
      dist,
      marker: join(dist, ".complete"),
      jar: join(dist, RUNNER_JAR),
      /** Working directory of the process: Quarkus reads `config/application.properties` there. */
      conf,
      props: join(conf, "config", "application.properties"),
      source: join(paths.root, "compose", "registry", "application.properties"),
      data: join(dataDir(paths), name),
      logFile: join(logDir(paths), `${name}.log`),
    };
  };

  const status = (paths: InfraPaths): ServiceStatus => {
    const s: ServiceStatus = { endpoint: endpoint(), external: external() };
    if (!external()) s.logFile = files(paths).logFile;
    const rec = liveRecord(paths, name);
    if (rec) s.pid = rec.pid;
    return s;
  };

  /** Apicurio's own readiness: true once the Kafka journal has been replayed. */
  const ready = async (): Promise<boolean> => {
    try {
      const res = await fetch(`${baseUrl()}/health/ready`, { signal: AbortSignal.timeout(3000) });
      return res.ok;
    } catch {
      return false;
    }
  };

  const service: InfraService = {
    name,
    endpoint,
    isExternal: external,
    isHealthy: () => registryRoundTrip(endpoint()),

    async install(paths) {
      if (external()) return;
      const f = files(paths);
      if (existsSync(f.marker) && existsSync(f.jar)) return;
      javaBin();
      if (!onPath("mvn")) {
        throw new Error("mvn not found: the Schema Registry is fetched from Maven Central with Maven (Debian: apt-get install -y maven)");
      }
      if (!onPath("tar")) throw new Error("tar not found: needed to unpack the Schema Registry distribution");
      const installLog = join(logDir(paths), `${name}-install.log`);
      const tmp = `${f.dist}.tmp-${process.pid}-${randomUUID().slice(0, 8)}`;
      const download = join(tmp, "download");
      const unpacked = join(tmp, "dist");
      mkdirSync(download, { recursive: true });
      mkdirSync(unpacked, { recursive: true });
      process.stdout.write(`${name}: fetching Apicurio Registry ${APICURIO_VERSION} (~110 MB) from Maven Central...\n`);
      try {
        // `dependency:copy` needs no POM of ours (and reads none of the artifact's: Apicurio's
        // parent POM for this version is not on Maven Central, so `unpack` would fail).
        await run(
          "mvn",
          ["-q", "-B", "-Dstyle.color=never", "dependency:copy", `-Dartifact=${DIST_ARTIFACT}`, `-DoutputDirectory=${download}`],
          { cwd: tmp, logFile: installLog, timeoutMs: 15 * 60_000 },
        );
        const tarball = join(download, `apicurio-registry-app-${APICURIO_VERSION}-all.tar.gz`);
        if (!existsSync(tarball)) throw new Error(`maven finished but ${pretty(tarball)} is missing; see ${pretty(installLog)}`);
        const sum = await sha256(tarball);
        if (sum !== DIST_SHA256) {
          throw new Error(`${DIST_ARTIFACT}: SHA-256 ${sum} does not match the pinned ${DIST_SHA256}`);
        }
        await run("tar", ["-xzf", tarball, "-C", unpacked], { logFile: installLog, timeoutMs: 5 * 60_000 });
        if (!existsSync(join(unpacked, RUNNER_JAR))) {
          throw new Error(`unpacked distribution has no ${RUNNER_JAR} (found: ${readdirSync(unpacked).join(", ")})`);
        }
        writeFileSync(join(unpacked, ".complete"), `${DIST_ARTIFACT} sha256 ${DIST_SHA256} unpacked ${new Date().toISOString()}\n`);
        rmSync(f.dist, { recursive: true, force: true });
        renameSync(unpacked, f.dist);
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    },

    async start(paths) {
      if (external()) return status(paths);
      const f = files(paths);
      const health = async () => (await ready()) && (await service.isHealthy());
      const rec = liveRecord(paths, name);
      if (rec) {
        // ours and alive: maybe still starting
        await waitHealthy(name, rec, health, 180_000);
        return status(paths);
      }
      if (!(await portsFree(HOST, [port]))) {
        throw new Error(
          `${name}: port ${port} on ${HOST} is in use by a process infra:up did not start; ` +
            `stop it, or point KVO at a registry with KVO_SCHEMA_REGISTRY_URL`,
        );
      }
      await service.install(paths);
      mkdirSync(join(f.conf, "config"), { recursive: true });
      mkdirSync(join(f.data, "tmp"), { recursive: true });
      copyFileSync(f.source, f.props);
      const started = await startDetachedAndWait(paths, {
        name,
        command: javaBin(),
        args: [
          "-Xms64m",
          `-Xmx${heap}`,
          "-XX:+UseSerialGC",
          "-XX:+ExitOnOutOfMemoryError",
          "-Djava.awt.headless=true",
          "-Djava.util.logging.manager=org.jboss.logmanager.LogManager",
          `-Djava.io.tmpdir=${join(f.data, "tmp")}`,
          `-Dkvo.infra.service=${name}`,
          `-Dquarkus.http.host=${HOST}`,
          `-Dquarkus.http.port=${port}`,
          `-Dapicurio.kafkasql.bootstrap.servers=${bootstrap()}`,
          `-Dapicurio.storage.snapshot.location=${f.data}`,
          `-Dapicurio.import.work-dir=${join(f.data, "tmp")}`,
          "-jar",
          f.jar,
        ],
        match: `-Dkvo.infra.service=${name}`,
        logFile: f.logFile,
        cwd: f.conf,
      });
      await waitHealthy(name, started, health, 180_000);
      return status(paths);
    },

    async stop(paths) {
      if (external()) return;
      await stopRecorded(paths, name, 20_000);
    },
  };
  return service;
}

/**
 * Health check through the Confluent API: registers a tiny Avro schema under a fixed subject
 * (idempotent: the same schema gets the same id every time) and fetches it back by id.
 * False on any error or after `timeoutMs`.
 */
export async function registryRoundTrip(url: string, timeoutMs = 15_000): Promise<boolean> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  const port = Number(u.port || (u.protocol === "https:" ? 443 : 80));
  if (!(await portOpen(u.hostname, port, 1000))) return false;
  const base = url.replace(/\/+$/, "");
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const reg = await fetch(`${base}/subjects/${encodeURIComponent(HEALTH_SUBJECT)}/versions`, {
      method: "POST",
      headers: { "Content-Type": CONFLUENT_JSON, Accept: CONFLUENT_JSON },
      body: JSON.stringify({ schema: HEALTH_SCHEMA }),
      signal,
    });
    if (!reg.ok) return false;
    const { id } = (await reg.json()) as { id?: unknown };
    if (typeof id !== "number") return false;
    const got = await fetch(`${base}/schemas/ids/${id}`, { headers: { Accept: CONFLUENT_JSON }, signal });
    if (!got.ok) return false;
    const { schema } = (await got.json()) as { schema?: unknown };
    if (typeof schema !== "string") return false;
    const parsed = JSON.parse(schema) as { name?: unknown; namespace?: unknown };
    return parsed.name === "Health" || parsed.name === "kvo.infra.Health";
  } catch {
    return false;
  }
}
