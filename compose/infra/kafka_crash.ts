/**
 * A broker crash, for tests: SIGKILL a Kafka that this infra code started (no controlled
 * shutdown, nothing flushed, open transactions and group sessions left behind) and start it
 * again with the same config, ports, data dir and pid file, then wait until it serves what the
 * runtime needs: a produce/consume round trip through a consumer group AND a transaction
 * (the transaction coordinator loads its state after the broker answers produce requests).
 *
 * Works on the shared instance that `npm run infra:up` started (pid file .kvo/run/kafka.pid,
 * rewritten with the new pid so `npm run infra:down` and .ci/run's leftover check still find
 * it) and on private instances (`kafkaService({ name, port })`). It holds the infra lock
 * while the broker is down, so a concurrent `infra:up` (e.g. another test run's globalSetup)
 * waits instead of starting a second broker on the same data dir.
 */
import { randomUUID } from "node:crypto";
import { Kafka, logLevel } from "kafkajs";
import { HEALTH_TOPIC, kafkaRoundTrip, type KafkaService } from "./kafka.js";
import { liveRecord, pretty, sleep, tail, withLock } from "./proc.js";
import type { InfraPaths } from "./service.js";

export interface KafkaCrashTimings {
  /** SIGKILL sent → the old process group is gone. */
  killMs: number;
  /** SIGKILL → a produce/consume round trip through a consumer group works again. */
  roundTripMs: number;
  /** SIGKILL → a transactional produce + commit works again. */
  transactionsMs: number;
  /** Pid of the new broker process. */
  pid: number;
}

export interface KafkaCrashOptions {
  /** Extra time the broker stays down after the kill (default 0). */
  downMs?: number;
  /** How long the restarted broker may take to serve transactions (default 180 s). */
  timeoutMs?: number;
}

/**
 * SIGKILLs the broker process group recorded for `svc` and starts it again on the same data.
 * Throws (without killing anything) when the broker is external or was not started by this
 * infra code: only a process we started and recorded may be killed.
 */
export async function crashAndRestartKafka(svc: KafkaService, paths: InfraPaths, opts: KafkaCrashOptions = {}): Promise<KafkaCrashTimings> {
  if (svc.isExternal()) {
    throw new Error(`${svc.name}: ${svc.endpoint()} is external (KVO_BOOTSTRAP_SERVERS); infra cannot kill and restart it`);
  }
  return withLock(paths, "infra", async () => {
    const before = liveRecord(paths, svc.name);
    if (!before) {
      throw new Error(
        `${svc.name}: no live process recorded in .kvo/run/${svc.name}.pid; only a broker started by ` +
          `\`npm run infra:up\` (or kafkaService().start) can be crashed and restarted`,
      );
    }
    const t0 = Date.now();
    await svc.kill(paths); // SIGKILL to the process group; waits until no member is left
    const killMs = Date.now() - t0;
    if (opts.downMs) await sleep(opts.downMs);
    const started = await svc.start(paths); // same config, ports, data dir; new pid file
    const roundTripMs = Date.now() - t0;
    const deadline = t0 + (opts.timeoutMs ?? 180_000);
    let lastError = "";
    for (;;) {
      const result = await kafkaTransactionRoundTrip(svc.endpoint());
      if (result === true) break;
      lastError = result;
      const rec = liveRecord(paths, svc.name);
      if (!rec)
        throw new Error(`${svc.name} exited after its restart; see ${pretty(started.logFile ?? "")}\n${tail(started.logFile ?? "")}`);
      if (Date.now() > deadline) {
        throw new Error(
          `${svc.name} restarted (pid ${rec.pid}) but did not commit a transaction within ${Math.round((deadline - t0) / 1000)} s ` +
            `(last error: ${lastError}); see ${pretty(rec.logFile)}`,
        );
      }
      await sleep(250);
    }
    // the consumer-group round trip again: a test run after this one must find a healthy broker
    if (!(await kafkaRoundTrip(svc.endpoint())))
      throw new Error(`${svc.name} commits transactions but fails the produce/consume health check`);
    return { killMs, roundTripMs, transactionsMs: Date.now() - t0, pid: liveRecord(paths, svc.name)?.pid ?? started.pid ?? -1 };
  });
}

/**
 * One transactional produce + commit on the health topic (created by kafkaRoundTrip) with a
 * fresh transactional id: proves the transaction coordinator has loaded its state. True, or
 * the error text.
 */
export async function kafkaTransactionRoundTrip(bootstrap: string, timeoutMs = 20_000): Promise<true | string> {
  const kafka = new Kafka({
    clientId: "kvo-infra-txn-health",
    brokers: bootstrap
      .split(",")
      .map((b) => b.trim())
      .filter(Boolean),
    logLevel: logLevel.NOTHING,
    connectionTimeout: 2000,
    requestTimeout: 10_000,
    retry: { retries: 5, initialRetryTime: 200, maxRetryTime: 2000 },
  });
  const producer = kafka.producer({
    transactionalId: `kvo-infra-txn-health-${process.pid}-${randomUUID().slice(0, 8)}`,
    idempotent: true,
    maxInFlightRequests: 1,
    transactionTimeout: 10_000,
    allowAutoTopicCreation: false,
  });
  let timer: NodeJS.Timeout | undefined;
  const attempt = async (): Promise<true> => {
    await producer.connect();
    const txn = await producer.transaction();
    try {
      await txn.send({ topic: HEALTH_TOPIC, messages: [{ value: `txn-${Date.now()}` }] });
      await txn.commit();
    } catch (err) {
      await txn.abort().catch(() => undefined);
      throw err;
    }
    return true;
  };
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`no transaction committed within ${timeoutMs} ms`), timeoutMs);
  });
  try {
    return await Promise.race([attempt().catch((err: unknown) => (err instanceof Error ? err.message : String(err))), timeout]);
  } finally {
    if (timer) clearTimeout(timer);
    await producer.disconnect().catch(() => undefined);
  }
}
