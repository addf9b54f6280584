/**
 * The broker a broker-crash test may SIGKILL and restart, through compose/infra (the code
 * behind `npm run infra:up`).
 *
 * - Default: the shared broker, when `npm run infra:up` (or the integration globalSetup)
 *   started it: same ports, data dir and pid file after the restart, so later test files,
 *   `npm run infra:down` and .ci/run's leftover-process check keep working.
 * - A private single-node broker (`kafka-it-restart`, 127.0.0.1:19192/19193, own data dir
 *   and pid file, stopped by release()) when KVO_IT_PRIVATE_BROKER=1 (e.g. on a machine where
 *   others run tests against the shared broker at the same time), or when the shared broker
 *   cannot be restarted by us (KVO_BOOTSTRAP_SERVERS points elsewhere, or it was not started
 *   by infra:up). It needs Java 17 and the Kafka jars (installed on first use, like infra:up).
 */
import { defaultPaths } from "../../../compose/infra/infra.js";
import { kafkaService, type KafkaService } from "../../../compose/infra/kafka.js";
import { crashAndRestartKafka, type KafkaCrashOptions, type KafkaCrashTimings } from "../../../compose/infra/kafka_crash.js";
import { liveRecord } from "../../../compose/infra/proc.js";

export interface RestartableBroker {
  /** "shared" or "private", for messages. */
  readonly kind: "shared" | "private";
  readonly bootstrap: string;
  readonly logFile: string | undefined;
  /** SIGKILL + start on the same data; resolves once produce/consume and transactions work. */
  crash(opts?: KafkaCrashOptions): Promise<KafkaCrashTimings>;
  /** Stops a private broker; leaves the shared one running (it is healthy after crash()). */
  release(): Promise<void>;
}

const PRIVATE = { name: "kafka-it-restart", port: 19192, controllerPort: 19193 };

export async function restartableBroker(): Promise<RestartableBroker> {
  const paths = defaultPaths();
  // The shared instance by its explicit name and port: kafkaService() would count as external
  // here, because the integration globalSetup exports KVO_BOOTSTRAP_SERVERS to the workers even
  // when it points at the broker infra:up started. It is ours when that pid record is live and
  // the tests use its endpoint.
  const shared = kafkaService({ name: "kafka", port: 9092 });
  const inUse = process.env.KVO_BOOTSTRAP_SERVERS;
  const sharedIsOurs = (inUse === undefined || inUse === shared.endpoint()) && liveRecord(paths, shared.name) !== undefined;
  const usePrivate = process.env.KVO_IT_PRIVATE_BROKER === "1" || !sharedIsOurs;
  const svc: KafkaService = usePrivate ? kafkaService(PRIVATE) : shared;
  if (usePrivate) {
    await svc.install(paths);
    await svc.start(paths);
  }
  return {
    kind: usePrivate ? "private" : "shared",
    bootstrap: svc.endpoint(),
    logFile: liveRecord(paths, svc.name)?.logFile,
    crash: (opts) => crashAndRestartKafka(svc, paths, opts),
    release: async () => {
      if (usePrivate) await svc.stop(paths);
    },
  };
}
