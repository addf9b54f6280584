/**
 * One benchmark run's Kafka world: a fresh input topic and changelog topic (same partition
 * count, the changelog compacted like the runtime's), the runtime's own GroupConsumer joined
 * to a fresh group and owning every partition (its group metadata is what
 * sendOffsetsToTransaction sends, KIP-447), and a factory of the runtime's own
 * TransactionalProducer. Everything is named `<label>.<time>.<uuid>` and deleted on close
 * (topics and the group; transactional ids cannot be deleted, the broker expires them after
 * transactional.id.expiration.ms).
 */
import { Kafka, logLevel } from "kafkajs";
import { GroupConsumer } from "../../../connectors/kafka/group.js";
import { resolveOptions, type ResolvedOptions } from "../../../connectors/kafka/options.js";
import { TransactionalProducer } from "../../../connectors/kafka/transactions.js";
import { consoleLogger } from "../../../runtime/support.js";
import { sleep, uniqueName } from "../clients/tools.js";

/** The runtime's default; a run's transactions are far shorter. */
const TXN_TIMEOUT_MS = 10_000;

export interface Fixture {
  readonly id: string;
  readonly brokers: string[];
  readonly input: string;
  readonly changelog: string;
  readonly partitions: number;
  readonly group: GroupConsumer;
  /** A new producer with this transactional.id suffix (`<id>.<suffix>`); stopped on close. */
  producer(suffix: string): TransactionalProducer;
  close(): Promise<void>;
}

function admin(brokers: string[]) {
  return new Kafka({ clientId: "bench-commitpath-admin", brokers, logLevel: logLevel.NOTHING }).admin();
}

/** Best effort: names are unique, so a left-over disturbs nobody, but it should not stay. */
async function deleteAll(brokers: string[], topics: string[], groupId: string): Promise<void> {
  const b = admin(brokers);
  try {
    await b.connect();
    await b.deleteTopics({ topics, timeout: 10_000 }).catch(() => undefined);
    await b.deleteGroups([groupId]).catch(() => undefined);
  } catch {
    // the broker is unreachable: nothing more to do here
  } finally {
    await b.disconnect().catch(() => undefined);
  }
}

async function waitForLeaders(a: ReturnType<typeof admin>, topics: string[], partitions: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const md = await a.fetchTopicMetadata({ topics });
      const ready = md.topics.every(
        (t) => t.partitions.length === partitions && t.partitions.every((p) => p.leader >= 0 && p.partitionErrorCode === 0),
      );
      if (ready) return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    if (Date.now() > deadline) throw new Error(`bench commitpath: no leaders for ${topics.join(", ")} within 60 s`);
    await sleep(100);
  }
}

export async function openFixture(brokers: string[], label: string, partitions: number): Promise<Fixture> {
  const id = uniqueName(`bench.commitpath.${label}`);
  const input = `${id}.invocations`;
  const changelog = `${id}.changelog`;
  const a = admin(brokers);
  await a.connect();
  try {
    // kafkajs's waitForLeaders sometimes fails with UNKNOWN_TOPIC_OR_PARTITION on a busy
    // broker; wait for the leaders here instead
    await a.createTopics({
      waitForLeaders: false,
      topics: [
        { topic: input, numPartitions: partitions, replicationFactor: 1 },
        {
          topic: changelog,
          numPartitions: partitions,
          replicationFactor: 1,
          configEntries: [{ name: "cleanup.policy", value: "compact" }],
        },
      ],
    });
    await waitForLeaders(a, [input, changelog], partitions);
  } catch (err) {
    await deleteAll(brokers, [input, changelog], `${id}.group`);
    throw err;
  } finally {
    await a.disconnect();
  }

  const options = (transactionalId: string): ResolvedOptions =>
    resolveOptions({
      brokers,
      clientId: `bench-commitpath-${label}`,
      groupId: `${id}.group`,
      inputTopic: input,
      changelogTopic: changelog,
      transactionalId,
      transactionTimeoutMs: TXN_TIMEOUT_MS,
      logger: consoleLogger("bench commitpath"),
    });

  const group = new GroupConsumer(options(`${id}.unused`));
  const assigned = new Set<number>();
  try {
    await group.start({
      onAssigned: (ps) => {
        for (const p of ps) assigned.add(p);
        return Promise.resolve();
      },
      onRevoked: (ps) => {
        for (const p of ps) assigned.delete(p);
        return Promise.resolve();
      },
      onRecords: () => undefined, // the input topic stays empty: invocations are synthetic
    });
    const deadline = Date.now() + 60_000;
    while (assigned.size < partitions) {
      if (Date.now() > deadline) {
        throw new Error(`bench commitpath: group ${id}.group got ${assigned.size}/${partitions} partitions of ${input} within 60 s`);
      }
      await sleep(20);
    }
  } catch (err) {
    await group.stop().catch(() => undefined);
    await deleteAll(brokers, [input, changelog], `${id}.group`);
    throw err;
  }

  let producers: TransactionalProducer[] = [];
  const stopProducers = async (): Promise<void> => {
    const all = producers;
    producers = [];
    await Promise.all(all.map((p) => p.stop().catch(() => undefined)));
  };
  return {
    id,
    brokers,
    input,
    changelog,
    partitions,
    group,
    producer(suffix) {
      const p = new TransactionalProducer(options(`${id}.${suffix}`), group);
      producers.push(p);
      return p;
    },
    async close() {
      await stopProducers();
      await group.stop().catch(() => undefined);
      await deleteAll(brokers, [input, changelog], `${id}.group`);
    },
  };
}
