/**
 * The runtime's LogTransport on the real broker, through connectors/kafka (librdkafka).
 * Topics, groups and transactional ids are unique per test. The test side reads and writes
 * with kafkajs, independent of the client under test.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ConfigResourceTypes, Kafka, logLevel, Partitioners, type Admin } from "kafkajs";
import { createKafkaTransport, type KafkaTransportOptions } from "../../connectors/kafka/index.js";
import { ConfigurationError, FencedError, KafkaErrorCodes } from "../../connectors/kafka/errors.js";
import type { ConsumeListener, InboundRecord, LogTransport, TopicSpec } from "../../runtime/log/log.js";
import type { Logger } from "../../runtime/support.js";
import { bootstrapServers } from "./support/endpoints.js";
import { uniqueGroup, uniqueTopic, uniqueTransactionalId } from "./support/unique.js";
import { createTopicsAndWait } from "./support/create_topics.js";

const kafka = new Kafka({ clientId: "kvo-it-transport", brokers: bootstrapServers(), logLevel: logLevel.NOTHING });
let admin: Admin;
const transports: LogTransport[] = [];

const quiet: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

beforeAll(async () => {
  admin = kafka.admin();
  await admin.connect();
});

afterEach(async () => {
  await Promise.allSettled(transports.splice(0).map((t) => t.stop()));
});

afterAll(async () => {
  await admin.disconnect();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

interface Names {
  input: string;
  changelog: string;
  group: string;
}

async function appTopics(partitions = 2): Promise<Names> {
  const names = { input: uniqueTopic("input"), changelog: uniqueTopic("changelog"), group: uniqueGroup() };
  await createTopicsAndWait(admin, [
    { topic: names.input, numPartitions: partitions, replicationFactor: 1 },
    {
      topic: names.changelog,
      numPartitions: partitions,
      replicationFactor: 1,
      configEntries: [{ name: "cleanup.policy", value: "compact" }],
    },
  ]);
  return names;
}

function transport(n: Names, extra: Partial<KafkaTransportOptions> = {}): LogTransport {
  const t = createKafkaTransport({
    brokers: bootstrapServers(),
    clientId: "kvo-it",
    groupId: n.group,
    inputTopic: n.input,
    changelogTopic: n.changelog,
    transactionalId: uniqueTransactionalId(),
    logger: quiet,
    ...extra,
  });
  transports.push(t);
  return t;
}

/** A listener that records what it is told; onRevoked can be held open by the test. */
class Recorder implements ConsumeListener {
  owned = new Set<number>();
  assignedCalls: number[][] = [];
  revokedCalls: number[][] = [];
  records = new Map<number, InboundRecord[]>();
  holdRevoke: Promise<void> | null = null;

  async onAssigned(partitions: number[]): Promise<void> {
    this.assignedCalls.push(partitions);
    for (const p of partitions) this.owned.add(p);
  }

  async onRevoked(partitions: number[]): Promise<void> {
    this.revokedCalls.push(partitions);
    if (this.holdRevoke) await this.holdRevoke;
    for (const p of partitions) this.owned.delete(p);
  }

  onRecords(partition: number, records: InboundRecord[]): void {
    const list = this.records.get(partition) ?? [];
    list.push(...records);
    this.records.set(partition, list);
  }

  values(partition: number): string[] {
    return (this.records.get(partition) ?? []).map((r) => r.value?.toString() ?? "null");
  }
}

async function readAll(t: LogTransport, partition: number): Promise<InboundRecord[]> {
  const out: InboundRecord[] = [];
  await t.readChangelog(partition, (r) => out.push(r));
  return out;
}

const rec = (topic: string, partition: number, key: string, value: string | null) => ({
  topic,
  partition,
  key: Buffer.from(key),
  value: value === null ? null : Buffer.from(value),
});

async function cleanupPolicy(topic: string): Promise<string | undefined> {
  const res = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ["cleanup.policy"] }],
  });
  return res.resources[0]?.configEntries.find((e) => e.configName === "cleanup.policy")?.configValue;
}

describe("ensureTopics", () => {
  it("creates missing topics with their partition count and cleanup policy, and accepts them afterwards", async () => {
    const n = { input: uniqueTopic("inv"), changelog: uniqueTopic("cl"), group: uniqueGroup() };
    const t = transport(n);
    const specs: TopicSpec[] = [
      { name: n.input, partitions: 3, replicationFactor: 1, cleanupPolicy: "delete", configs: { "retention.ms": "3600000" } },
      { name: n.changelog, partitions: 3, replicationFactor: 1, cleanupPolicy: "compact" },
    ];
    await t.ensureTopics(specs);
    const meta = await admin.fetchTopicMetadata({ topics: [n.input, n.changelog] });
    expect(meta.topics.map((x) => x.partitions.length)).toEqual([3, 3]);
    expect(await cleanupPolicy(n.input)).toBe("delete");
    expect(await cleanupPolicy(n.changelog)).toBe("compact");
    await t.ensureTopics(specs); // existing and matching: no error
  });

  it("rejects an existing topic with another partition count, saying what is wrong and how to fix it", async () => {
    const n = await appTopics(2);
    const t = transport(n);
    const err = await t.ensureTopics([{ name: n.changelog, partitions: 4, replicationFactor: 1, cleanupPolicy: "compact" }]).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigurationError);
    const e = err as ConfigurationError;
    expect(e.code).toBe(KafkaErrorCodes.topicPartitions);
    expect(e.retryable).toBe(false);
    expect(e.message).toContain(n.changelog);
    expect(e.message).toContain("has 2 partition(s)");
    expect(e.message).toContain("configured for 4");
    expect(e.message).toContain("partitions: 2");
  });

  it("rejects an existing topic with another cleanup policy, naming the fix", async () => {
    const n = await appTopics(2);
    const t = transport(n);
    const err = await t.ensureTopics([{ name: n.input, partitions: 2, replicationFactor: 1, cleanupPolicy: "compact" }]).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigurationError);
    const e = err as ConfigurationError;
    expect(e.code).toBe(KafkaErrorCodes.topicCleanupPolicy);
    expect(e.message).toContain(`topic "${n.input}" has cleanup.policy=delete`);
    expect(e.message).toContain("--add-config cleanup.policy=compact");
  });
});

describe("commit and readChangelog", () => {
  it("a committed batch is visible to readChangelog; aborted and still-open transactions are not", async () => {
    const n = await appTopics(2);
    // readChangelog waits up to the transaction timeout for transactions open at the call
    const t = transport(n, { transactionTimeoutMs: 3000 });
    await t.commit({
      records: [
        rec(n.changelog, 1, "a", "1"),
        { ...rec(n.changelog, 1, "b", "2"), headers: { h: Buffer.from("x") } },
        rec(n.changelog, 1, "a", null),
      ],
      offsets: new Map(),
    });
    // another producer: one aborted transaction, then one left open
    const other = kafka.producer({
      transactionalId: uniqueTransactionalId(),
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await other.connect();
    try {
      const aborted = await other.transaction();
      await aborted.send({ topic: n.changelog, messages: [{ key: "z", value: "aborted", partition: 1 }] });
      await aborted.abort();
      await t.commit({ records: [rec(n.changelog, 1, "c", "3")], offsets: new Map() });
      const open = await other.transaction();
      await open.send({ topic: n.changelog, messages: [{ key: "y", value: "open", partition: 1 }] });
      await t.commit({ records: [rec(n.changelog, 1, "d", "after-open")], offsets: new Map() });

      const started = Date.now();
      const read = await readAll(t, 1);
      expect(Date.now() - started).toBeGreaterThanOrEqual(2500); // waited for the open transaction
      expect(read.map((r) => [r.key?.toString(), r.value?.toString() ?? null])).toEqual([
        ["a", "1"],
        ["b", "2"],
        ["a", null],
        ["c", "3"],
      ]);
      expect(read[1]?.headers.h?.toString()).toBe("x");
      expect(read.every((r, i) => i === 0 || r.offset > read[i - 1]!.offset)).toBe(true);
      expect(await readAll(t, 0)).toEqual([]);

      // a transaction completing while the read starts is waited for, not cut off
      const committing = open.commit();
      const after = await readAll(t, 1);
      await committing;
      expect(after.map((r) => r.value?.toString() ?? null)).toEqual(["1", "2", null, "3", "open", "after-open"]);
    } finally {
      await other.disconnect();
    }
  });

  it("records without a partition go where Kafka's default (murmur2) partitioner puts them", async () => {
    const n = await appTopics(8);
    const t = transport(n);
    const keys = Array.from({ length: 20 }, (_, i) => `Counter/key-${i}`);
    await t.commit({ records: keys.map((k) => ({ topic: n.changelog, key: Buffer.from(k), value: Buffer.from(k) })), offsets: new Map() });
    const murmur2 = Partitioners.DefaultPartitioner();
    const partitionMetadata = Array.from({ length: 8 }, (_, i) => ({
      partitionId: i,
      leader: 1,
      replicas: [1],
      isr: [1],
      partitionErrorCode: 0,
    }));
    let seen = 0;
    for (let p = 0; p < 8; p++) {
      for (const r of await readAll(t, p)) {
        seen++;
        expect(murmur2({ topic: n.changelog, partitionMetadata, message: { key: r.key!.toString(), value: null } })).toBe(p);
      }
    }
    expect(seen).toBe(keys.length);
  });
});

describe("group membership, committed offsets and fencing", () => {
  it("delivers records in order after onAssigned, and committedOffset reflects committed offsets", async () => {
    const n = await appTopics(2);
    const t = transport(n);
    expect(await t.committedOffset(0)).toBeNull();
    const l = new Recorder();
    await t.startConsuming(l);
    await until(() => l.owned.size === 2, "assignment of both partitions");

    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    await producer.send({ topic: n.input, messages: Array.from({ length: 10 }, (_, i) => ({ value: `v${i}`, partition: 0 })) });
    await producer.disconnect();
    await until(() => l.values(0).length === 10, "10 records of partition 0");
    expect(l.values(0)).toEqual(Array.from({ length: 10 }, (_, i) => `v${i}`));
    expect((l.records.get(0) ?? []).map((r) => Number(r.offset))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

    await t.commit({
      records: [rec(n.changelog, 0, "k", "v")],
      offsets: new Map([
        [0, 10n],
        [1, 0n],
      ]),
    });
    expect(await t.committedOffset(0)).toBe(10n);
    expect(await t.committedOffset(1)).toBe(0n);
  });

  it("committedOffset waits while a transaction carrying offsets for the partition is open", async () => {
    const n = await appTopics(1);
    const t = transport(n);
    // a transactional producer commits offsets for the (memberless) group, and holds the transaction open
    const other = kafka.producer({
      transactionalId: uniqueTransactionalId(),
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await other.connect();
    try {
      const txn = await other.transaction();
      await txn.sendOffsets({ consumerGroupId: n.group, topics: [{ topic: n.input, partitions: [{ partition: 0, offset: "11" }] }] });
      let resolved: bigint | null | undefined;
      const pending = t.committedOffset(0).then((v) => {
        resolved = v;
      });
      await sleep(1500);
      expect(resolved).toBeUndefined();
      await txn.commit();
      await pending;
      expect(resolved).toBe(11n);
    } finally {
      await other.disconnect();
    }
  });

  it("pause holds a partition's records; resume delivers them in order", async () => {
    const n = await appTopics(1);
    const t = transport(n);
    const l = new Recorder();
    await t.startConsuming(l);
    await until(() => l.owned.has(0), "assignment");
    t.pause([0]);
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    await producer.send({ topic: n.input, messages: Array.from({ length: 5 }, (_, i) => ({ value: `p${i}`, partition: 0 })) });
    await producer.disconnect();
    await sleep(1500);
    expect(l.values(0)).toEqual([]);
    t.resume([0]);
    await until(() => l.values(0).length === 5, "records after resume");
    expect(l.values(0)).toEqual(["p0", "p1", "p2", "p3", "p4"]);
  });

  it("after a rebalance, the member that lost a partition gets FencedError when committing it", async () => {
    const n = await appTopics(2);
    const a = transport(n);
    const la = new Recorder();
    await a.startConsuming(la);
    await until(() => la.owned.size === 2, "A owns both partitions");
    await a.commit({
      records: [rec(n.changelog, 0, "a0", "x")],
      offsets: new Map([
        [0, 0n],
        [1, 0n],
      ]),
    });

    const b = transport(n);
    const lb = new Recorder();
    await b.startConsuming(lb);
    await until(() => la.owned.size === 1 && lb.owned.size === 1, "one partition each");
    const lost = [...lb.owned][0]!;
    const kept = [...la.owned][0]!;
    expect(la.revokedCalls.flat().sort()).toEqual([0, 1]); // eager: A gave back everything first

    const err = await a.commit({ records: [rec(n.changelog, lost, "zombie", "must-not-appear")], offsets: new Map([[lost, 5n]]) }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FencedError);
    expect((err as Error).message).toContain("does not own");
    // still the owner of the other partition: commits there go through
    await a.commit({ records: [rec(n.changelog, kept, "ok", "y")], offsets: new Map([[kept, 0n]]) });
    await b.commit({ records: [], offsets: new Map([[lost, 0n]]) });
    expect((await readAll(b, lost)).map((r) => r.key?.toString())).not.toContain("zombie");
    expect(await b.committedOffset(lost)).toBe(0n);
  });

  it("a member stuck in onRevoked past the rebalance timeout is fenced by the group coordinator", async () => {
    const n = await appTopics(2);
    const timeouts = { sessionTimeoutMs: 6000, rebalanceTimeoutMs: 6000 };
    const a = transport(n, timeouts);
    const la = new Recorder();
    let release!: () => void;
    await a.startConsuming(la);
    await until(() => la.owned.size === 2, "A owns both partitions");
    await a.commit({
      records: [],
      offsets: new Map([
        [0, 0n],
        [1, 0n],
      ]),
    });
    la.holdRevoke = new Promise<void>((r) => (release = r));

    const b = transport(n, timeouts);
    const lb = new Recorder();
    await b.startConsuming(lb);
    await until(() => la.revokedCalls.length > 0, "A's revocation to start");
    // the coordinator gives up on A after the rebalance timeout and hands everything to B
    await until(() => lb.owned.size === 2, "B owns both partitions", 30_000);

    // A still believes it is revoking (same generation, for all it knows) and commits: refused
    const err = await a.commit({ records: [rec(n.changelog, 0, "zombie", "must-not-appear")], offsets: new Map([[0, 99n]]) }).then(
      () => null,
      (e: unknown) => e,
    );
    release();
    expect(err).toBeInstanceOf(FencedError);
    expect((err as Error).message).toContain("group coordinator refused"); // the broker's verdict, not a local check
    expect(await b.committedOffset(0)).toBe(0n);
    expect((await readAll(b, 0)).map((r) => r.key?.toString())).not.toContain("zombie");
  }, 60_000);

  it("a second producer with the same transactional.id fences the first for good", async () => {
    const n = await appTopics(1);
    const id = uniqueTransactionalId();
    const first = transport(n, { transactionalId: id });
    await first.commit({ records: [rec(n.changelog, 0, "k", "first")], offsets: new Map() });
    const second = transport({ ...n, group: uniqueGroup() }, { transactionalId: id });
    await second.commit({ records: [rec(n.changelog, 0, "k", "second")], offsets: new Map() });

    const err = await first.commit({ records: [rec(n.changelog, 0, "k", "zombie")], offsets: new Map() }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FencedError);
    await expect(first.commit({ records: [rec(n.changelog, 0, "k", "again")], offsets: new Map() })).rejects.toBeInstanceOf(FencedError);
    await expect(first.rejoin()).rejects.toBeInstanceOf(FencedError);
    expect((await readAll(second, 0)).map((r) => r.value?.toString())).toEqual(["first", "second"]);
  });

  it("stop() revokes through onRevoked and leaves the group, so another member takes over", async () => {
    const n = await appTopics(2);
    const a = transport(n);
    const la = new Recorder();
    await a.startConsuming(la);
    await until(() => la.owned.size === 2, "A owns both partitions");
    const b = transport(n);
    const lb = new Recorder();
    await b.startConsuming(lb);
    await until(() => la.owned.size === 1 && lb.owned.size === 1, "one partition each");
    await a.stop();
    expect(la.owned.size).toBe(0);
    await until(() => lb.owned.size === 2, "B owns both partitions", 20_000);
  });
});
