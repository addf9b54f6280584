/**
 * Apache Kafka, started natively: jars from Maven Central (compose/kafka/pom.xml), KRaft
 * combined broker+controller, one node, on Java 17.
 *
 * The default instance ("kafka", 127.0.0.1:9092) is the shared one that infra:up starts.
 * `kafkaService({ port, controllerPort, name })` gives a private instance with its own
 * config, data, log and pid file, e.g. for a benchmark that restarts its broker:
 *
 *   const k = kafkaService({ name: "kafka-bench", port: 19092, controllerPort: 19093 });
 *   await k.install(paths); await k.start(paths);
 *   await k.restart(paths, { hard: true });   // SIGKILL + start, data kept
 *   await k.stop(paths);
 */
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Kafka, logLevel } from "kafkajs";
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
  sleep,
  startDetachedAndWait,
  stopRecorded,
  waitHealthy,
} from "./proc.js";

/** Pinned: kafkajs (benchmarked against) may not speak Kafka 4.x's protocol versions. */
export const KAFKA_VERSION = "3.9.1";

export interface KafkaOptions {
  /** Client listener port (default 9092). */
  port?: number;
  /** KRaft controller port (default port + 1). */
  controllerPort?: number;
  /** Instance name: config, data, log and pid file are keyed by it (default "kafka"). */
  name?: string;
  /** Max heap, e.g. "768m" (default: $KVO_KAFKA_HEAP or 768m). */
  heap?: string;
}

export interface KafkaService extends InfraService {
  readonly port: number;
  readonly controllerPort: number;
  /** Stops (SIGTERM, or SIGKILL with `hard`) and starts again with the same data. */
  restart(paths: InfraPaths, opts?: { hard?: boolean; downMs?: number }): Promise<ServiceStatus>;
  /** Stops with SIGKILL (no controlled shutdown), e.g. to simulate a crash. */
  kill(paths: InfraPaths): Promise<void>;
}

const HOST = "127.0.0.1";
/** Small internal topic of the health checks (kafkaRoundTrip, kafkaTransactionRoundTrip). */
export const HEALTH_TOPIC = "kvo.infra.health";

/** Cache folder holding the resolved jars; `.complete` is written only after a full copy. */
export function kafkaCacheDir(paths: InfraPaths): string {
  return join(paths.cacheDir, `kafka-${KAFKA_VERSION}`);
}

function javaBin(): string {
  const home = process.env.JAVA_HOME;
  if (home && existsSync(join(home, "bin", "java"))) return join(home, "bin", "java");
  const p = onPath("java");
  if (!p) throw new Error("java not found: Kafka needs Java 17+ (Debian: apt-get install -y openjdk-17-jre-headless)");
  return p;
}

/** Kafka's Uuid string form: 16 random bytes, base64url without padding. */
function newClusterId(): string {
  return randomBytes(16).toString("base64url");
}

export function kafkaService(opts: KafkaOptions = {}): KafkaService {
  const name = opts.name ?? "kafka";
  const port = opts.port ?? 9092;
  const controllerPort = opts.controllerPort ?? port + 1;
  const isDefault = opts.name === undefined && opts.port === undefined;
  const heap = opts.heap ?? process.env.KVO_KAFKA_HEAP ?? "768m";

  const external = (): boolean => isDefault && !!process.env.KVO_BOOTSTRAP_SERVERS;
  const endpoint = (): string => (external() ? process.env.KVO_BOOTSTRAP_SERVERS! : `${HOST}:${port}`);

  const files = (paths: InfraPaths) => {
    const conf = join(confDir(paths), name);
    return {
      conf,
      serverProps: join(conf, "server.properties"),
      log4jProps: join(conf, "log4j.properties"),
      clusterIdFile: join(conf, "cluster.id"),
      data: join(dataDir(paths), name),
      logFile: join(logDir(paths), `${name}.log`),
      libs: join(kafkaCacheDir(paths), "libs"),
      marker: join(kafkaCacheDir(paths), ".complete"),
    };
  };

  const status = (paths: InfraPaths): ServiceStatus => {
    const rec = liveRecord(paths, name);
    const s: ServiceStatus = { endpoint: endpoint(), external: external() };
    if (!external()) s.logFile = files(paths).logFile;
    if (rec) s.pid = rec.pid;
    return s;
  };

  const writeConfig = (paths: InfraPaths): void => {
    const f = files(paths);
    mkdirSync(f.conf, { recursive: true });
    mkdirSync(f.data, { recursive: true });
    const props: Record<string, string | number | boolean> = {
      "process.roles": "broker,controller",
      "node.id": 1,
      "controller.quorum.voters": `1@${HOST}:${controllerPort}`,
      listeners: `PLAINTEXT://${HOST}:${port},CONTROLLER://${HOST}:${controllerPort}`,
      "advertised.listeners": `PLAINTEXT://${HOST}:${port}`,
      "controller.listener.names": "CONTROLLER",
      "inter.broker.listener.name": "PLAINTEXT",
      "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
      "log.dirs": f.data,
      // single node: internal topics cannot be replicated
      "offsets.topic.replication.factor": 1,
      "transaction.state.log.replication.factor": 1,
      "transaction.state.log.min.isr": 1,
      "default.replication.factor": 1,
      "min.insync.replicas": 1,
      // consumer groups join without the 3 s initial delay
      "group.initial.rebalance.delay.ms": 0,
      // small machine: fewer internal partitions and threads
      "offsets.topic.num.partitions": 10,
      "transaction.state.log.num.partitions": 10,
      "num.partitions": 1,
      "num.network.threads": 2,
      "num.io.threads": 4,
      "num.recovery.threads.per.data.dir": 1,
      "log.cleaner.threads": 1,
      "log.cleaner.dedupe.buffer.size": 16 * 1024 * 1024,
      "auto.create.topics.enable": true,
      "delete.topic.enable": true,
      "log.retention.hours": 24,
      "log.segment.bytes": 64 * 1024 * 1024,
      "log.retention.check.interval.ms": 60_000,
      "socket.request.max.bytes": 104857600,
    };
    const text =
      `# Generated by compose/infra/kafka.ts (Kafka ${KAFKA_VERSION}); edits are overwritten on start.\n` +
      Object.entries(props)
        .map(([k, v]) => `${k}=${v}`)
        .join("\n") +
      "\n";
    writeFileSync(f.serverProps, text);
    writeFileSync(
      f.log4jProps,
      [
        "log4j.rootLogger=INFO, stdout",
        "log4j.appender.stdout=org.apache.log4j.ConsoleAppender",
        "log4j.appender.stdout.layout=org.apache.log4j.PatternLayout",
        "log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n",
        "log4j.logger.kafka=INFO",
        "log4j.logger.org.apache.kafka=INFO",
        "log4j.logger.kafka.request.logger=WARN",
        "log4j.logger.kafka.log.LogCleaner=INFO",
        "log4j.logger.state.change.logger=WARN",
        "log4j.logger.kafka.authorizer.logger=WARN",
        "log4j.logger.org.apache.kafka.storage.internals.log=WARN",
        "log4j.logger.kafka.log=WARN",
        "",
      ].join("\n"),
    );
  };

  const jvmArgs = (paths: InfraPaths): string[] => {
    const f = files(paths);
    return [
      `-Xms256m`,
      `-Xmx${heap}`,
      "-XX:+UseG1GC",
      "-XX:MaxGCPauseMillis=20",
      "-XX:InitiatingHeapOccupancyPercent=35",
      "-XX:+ExplicitGCInvokesConcurrent",
      "-XX:+ExitOnOutOfMemoryError",
      "-Djava.awt.headless=true",
      `-Dlog4j.configuration=file:${f.log4jProps}`,
      `-Dkafka.logs.dir=${logDir(paths)}`,
      "-cp",
      `${f.libs}/*`,
    ];
  };

  const formatStorage = async (paths: InfraPaths): Promise<void> => {
    const f = files(paths);
    if (existsSync(join(f.data, "meta.properties"))) return;
    let clusterId = existsSync(f.clusterIdFile) ? readFileSync(f.clusterIdFile, "utf8").trim() : "";
    if (!clusterId) {
      clusterId = newClusterId();
      writeFileSync(f.clusterIdFile, clusterId + "\n");
    }
    await run(
      javaBin(),
      [
        ...jvmArgs(paths).filter((a) => !a.startsWith("-Xms")),
        "kafka.tools.StorageTool",
        "format",
        "--cluster-id",
        clusterId,
        "--config",
        f.serverProps,
        "--ignore-formatted",
      ],
      { logFile: f.logFile, timeoutMs: 120_000 },
    );
  };

  const service: KafkaService = {
    name,
    port,
    controllerPort,
    endpoint,
    isExternal: external,

    isHealthy: () => kafkaRoundTrip(endpoint()),

    async install(paths) {
      const f = files(paths);
      if (existsSync(f.marker) && existsSync(f.libs)) return;
      if (!onPath("mvn")) {
        throw new Error("mvn not found: the Kafka jars are resolved with Maven (Debian: apt-get install -y maven)");
      }
      javaBin();
      const cache = kafkaCacheDir(paths);
      mkdirSync(cache, { recursive: true });
      const tmp = join(cache, `libs.tmp-${process.pid}-${randomUUID().slice(0, 8)}`);
      const pom = join(paths.root, "compose", "kafka", "pom.xml");
      process.stdout.write(`${name}: resolving Apache Kafka ${KAFKA_VERSION} jars from Maven Central...\n`);
      try {
        await run("mvn", ["-q", "-B", "-Dstyle.color=never", "-f", pom, "dependency:copy-dependencies", `-DoutputDirectory=${tmp}`], {
          logFile: join(logDir(paths), "kafka-install.log"),
          timeoutMs: 15 * 60_000,
        });
        const jar = join(tmp, `kafka_2.13-${KAFKA_VERSION}.jar`);
        if (!existsSync(jar)) throw new Error(`maven finished but ${pretty(jar)} is missing`);
        rmSync(f.libs, { recursive: true, force: true });
        renameSync(tmp, f.libs);
        writeFileSync(f.marker, `kafka ${KAFKA_VERSION} jars copied ${new Date().toISOString()}\n`);
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    },

    async start(paths) {
      if (external()) return status(paths);
      const f = files(paths);
      const rec = liveRecord(paths, name);
      if (rec) {
        // ours and alive: maybe still starting
        await waitHealthy(name, rec, () => service.isHealthy(), 180_000);
        return status(paths);
      }
      if (!(await portsFree(HOST, [port, controllerPort]))) {
        throw new Error(
          `${name}: port ${port} or ${controllerPort} on ${HOST} is in use by a process infra:up did not start; ` +
            `stop it, or point KVO at it with KVO_BOOTSTRAP_SERVERS`,
        );
      }
      if (!existsSync(f.marker)) await service.install(paths);
      writeConfig(paths);
      await formatStorage(paths);
      const started = await startDetachedAndWait(paths, {
        name,
        command: javaBin(),
        args: [...jvmArgs(paths), "kafka.Kafka", f.serverProps],
        match: f.serverProps,
        logFile: f.logFile,
      });
      await waitHealthy(name, started, () => service.isHealthy(), 180_000);
      return status(paths);
    },

    async stop(paths) {
      if (external()) return;
      await stopRecorded(paths, name, 30_000);
    },

    async kill(paths) {
      if (external()) return;
      await stopRecorded(paths, name, 10_000, "SIGKILL");
    },

    async restart(paths, ropts = {}) {
      if (external()) throw new Error(`${name} is external (KVO_BOOTSTRAP_SERVERS); it cannot be restarted`);
      if (ropts.hard) await service.kill(paths);
      else await service.stop(paths);
      if (ropts.downMs) await sleep(ropts.downMs);
      return service.start(paths);
    },
  };
  return service;
}

/**
 * Health check: a real produce/consume round trip on a small internal topic (created when
 * missing), through kafkajs. False on any error or after `timeoutMs`.
 */
export async function kafkaRoundTrip(bootstrap: string, timeoutMs = 20_000): Promise<boolean> {
  const brokers = bootstrap
    .split(",")
    .map((b) => b.trim())
    .filter(Boolean);
  const first = brokers[0];
  if (!first) return false;
  const [host, portStr] = first.split(":");
  if (host && portStr && !(await portOpen(host, Number(portStr), 1000))) return false;

  const kafka = new Kafka({
    clientId: "kvo-infra-health",
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 2000,
    requestTimeout: 10_000,
    retry: { retries: 5, initialRetryTime: 200, maxRetryTime: 2000 },
  });
  const groupId = `kvo-infra-health-${process.pid}-${randomUUID().slice(0, 8)}`;
  const admin = kafka.admin();
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1000 });
  let timer: NodeJS.Timeout | undefined;
  const check = async (): Promise<boolean> => {
    await admin.connect();
    const topics = await admin.listTopics();
    if (!topics.includes(HEALTH_TOPIC)) {
      try {
        await admin.createTopics({
          topics: [{ topic: HEALTH_TOPIC, numPartitions: 1, replicationFactor: 1 }],
          waitForLeaders: true,
        });
      } catch (err) {
        // a concurrent check may have created it
        if (
          !String((err as Error).message)
            .toLowerCase()
            .includes("already exists")
        )
          throw err;
      }
    }
    await producer.connect();
    const value = `${groupId}-${Date.now()}`;
    const [meta] = await producer.send({ topic: HEALTH_TOPIC, acks: -1, messages: [{ value }] });
    const offset = meta?.baseOffset ?? meta?.offset;
    if (offset === undefined) return false;
    await consumer.connect();
    await consumer.subscribe({ topics: [HEALTH_TOPIC] });
    const seen = new Promise<void>((resolve) => {
      void consumer.run({
        autoCommit: false,
        eachMessage: async ({ message }) => {
          if (message.value?.toString() === value) resolve();
        },
      });
    });
    consumer.seek({ topic: HEALTH_TOPIC, partition: 0, offset: String(offset) });
    await seen;
    return true;
  };
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([check().catch(() => false), timeout]);
  } finally {
    if (timer) clearTimeout(timer);
    await Promise.allSettled([consumer.disconnect(), producer.disconnect()]);
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
}
