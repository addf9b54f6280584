/**
 * ensureTopics: creates missing topics and checks existing ones.
 *
 * Creation and partition counts go through librdkafka's admin client. It has no
 * DescribeConfigs, so the cleanup.policy of an existing topic is read with kafkajs' admin
 * (already a dependency; one short-lived connection, only when topics already exist).
 */
import kafkajs from "kafkajs";
import type { TopicSpec } from "../../runtime/log/log.js";
import { ConfigurationError, KafkaErrorCodes, RdCodes, asRdError, describe } from "./errors.js";
import { baseConfig, type ResolvedOptions } from "./options.js";
import { RdKafka, sleep } from "./rdkafka.js";

// kafkajs is CommonJS; Node's ESM loader does not see every named export of it
const { ConfigResourceTypes, Kafka, logLevel } = kafkajs;

type Admin = RdKafka.IAdminClient;

const TIMEOUT_MS = 15_000;

function call<T>(fn: (cb: (err: RdKafka.LibrdKafkaError | null | undefined, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value as T))));
}

export interface TopicProblem {
  topic: string;
  code: string;
  message: string;
}

export async function ensureTopics(o: ResolvedOptions, specs: TopicSpec[]): Promise<void> {
  if (specs.length === 0) return;
  const admin = RdKafka.AdminClient.create({ ...baseConfig(o, "admin"), ...o.rdkafka });
  try {
    const names = new Set(await call<string[]>((cb) => admin.listTopics({ timeout: TIMEOUT_MS }, cb)));
    const existing: TopicSpec[] = [];
    for (const spec of specs) {
      if (names.has(spec.name)) {
        existing.push(spec);
        continue;
      }
      const created = await create(admin, spec);
      if (!created) existing.push(spec); // created concurrently by another process
    }
    await waitForLeaders(
      admin,
      specs.map((s) => s.name),
    );
    const problems = [...(await partitionProblems(admin, existing)), ...(await cleanupProblems(o, existing))];
    if (problems.length > 0) throw configurationError(problems);
    o.logger.debug(`topics ready: ${specs.map((s) => s.name).join(", ")}`);
  } finally {
    admin.disconnect();
  }
}

/** The subset of `names` that exists on the cluster (one metadata request). */
export async function existingTopics(o: ResolvedOptions, names: string[]): Promise<Set<string>> {
  const admin = RdKafka.AdminClient.create({ ...baseConfig(o, "admin"), ...o.rdkafka });
  try {
    const all = new Set(await call<string[]>((cb) => admin.listTopics({ timeout: TIMEOUT_MS }, cb)));
    return new Set(names.filter((n) => all.has(n)));
  } finally {
    admin.disconnect();
  }
}

/** True when this call created the topic, false when it already existed. */
async function create(admin: Admin, spec: TopicSpec): Promise<boolean> {
  try {
    await call<void>((cb) =>
      admin.createTopic(
        {
          topic: spec.name,
          num_partitions: spec.partitions,
          replication_factor: spec.replicationFactor,
          config: { ...spec.configs, "cleanup.policy": spec.cleanupPolicy },
        },
        TIMEOUT_MS,
        cb,
      ),
    );
    return true;
  } catch (err) {
    if (asRdError(err).code === RdCodes.TOPIC_ALREADY_EXISTS) return false;
    throw new ConfigurationError(`could not create topic "${spec.name}": ${describe(err)}`, {
      code: "topic_create_failed",
      cause: err,
    });
  }
}

async function describeTopics(admin: Admin, names: string[]): Promise<RdKafka.TopicDescription[]> {
  return call<RdKafka.TopicDescription[]>((cb) => admin.describeTopics(names, { timeout: TIMEOUT_MS }, cb));
}

/** New topics answer produce requests only once every partition has a leader. */
async function waitForLeaders(admin: Admin, names: string[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    let ready = false;
    try {
      const d = await describeTopics(admin, names);
      ready = d.length === names.length && d.every((t) => !t.error && t.partitions.length > 0 && t.partitions.every((p) => p.leader));
    } catch {
      ready = false;
    }
    if (ready) return;
    if (Date.now() > deadline) throw new Error(`topics ${names.join(", ")} have no leader after 30 s`);
    await sleep(100);
  }
}

async function partitionProblems(admin: Admin, specs: TopicSpec[]): Promise<TopicProblem[]> {
  if (specs.length === 0) return [];
  const descriptions = await describeTopics(
    admin,
    specs.map((s) => s.name),
  );
  const problems: TopicProblem[] = [];
  for (const spec of specs) {
    const d = descriptions.find((t) => t.name === spec.name);
    const actual = d?.partitions.length ?? 0;
    if (actual === spec.partitions) continue;
    problems.push({
      topic: spec.name,
      code: KafkaErrorCodes.topicPartitions,
      message:
        `topic "${spec.name}" has ${actual} partition(s) but the app is configured for ${spec.partitions}. ` +
        `A partition count cannot change under KVO (keys would move to other partitions and lose their state): ` +
        `either configure the app with partitions: ${actual}, or delete the topic so that it is created again ` +
        `(kafka-topics.sh --bootstrap-server <brokers> --delete --topic ${spec.name}; this deletes its data).`,
    });
  }
  return problems;
}

async function cleanupProblems(o: ResolvedOptions, specs: TopicSpec[]): Promise<TopicProblem[]> {
  if (specs.length === 0) return [];
  const kafka = new Kafka({ clientId: `${o.clientId}-admin-configs`, brokers: o.brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const res = await admin.describeConfigs({
      includeSynonyms: false,
      resources: specs.map((s) => ({ type: ConfigResourceTypes.TOPIC, name: s.name, configNames: ["cleanup.policy"] })),
    });
    const problems: TopicProblem[] = [];
    for (const spec of specs) {
      const r = res.resources.find((x) => x.resourceName === spec.name);
      const value = r?.configEntries.find((e) => e.configName === "cleanup.policy")?.configValue ?? "delete";
      const actual = value
        .split(",")
        .map((v) => v.trim())
        .filter(Boolean)
        .sort()
        .join(",");
      if (actual === spec.cleanupPolicy) continue;
      const why =
        spec.cleanupPolicy === "compact"
          ? "it holds state, and deleting old records by time or size would lose it"
          : "it is a log, and compaction would drop records that share a key";
      problems.push({
        topic: spec.name,
        code: KafkaErrorCodes.topicCleanupPolicy,
        message:
          `topic "${spec.name}" has cleanup.policy=${value} but KVO needs cleanup.policy=${spec.cleanupPolicy} (${why}). ` +
          `Fix: kafka-configs.sh --bootstrap-server <brokers> --alter --entity-type topics --entity-name ${spec.name} ` +
          `--add-config cleanup.policy=${spec.cleanupPolicy}`,
      });
    }
    return problems;
  } finally {
    await admin.disconnect();
  }
}

function configurationError(problems: TopicProblem[]): ConfigurationError {
  const [first] = problems;
  const code = first && problems.every((p) => p.code === first.code) ? first.code : "topic_config_mismatch";
  const text = problems.length === 1 ? (first?.message ?? "") : problems.map((p) => `- ${p.message}`).join("\n");
  const err = new ConfigurationError(problems.length === 1 ? text : `${problems.length} topics do not match:\n${text}`, { code });
  return Object.assign(err, { problems });
}
