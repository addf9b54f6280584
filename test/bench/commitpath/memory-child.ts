/**
 * Child process of the takeover scenario: what N of the runtime's transactional producers
 * cost a fresh process (librdkafka allocates natively, so this is resident memory, and a
 * process that already freed clients would reuse that memory and hide the cost).
 *
 * argv: <brokers> <topic> <transactional-id prefix> <count>. Opens `count` producers, each
 * committing one step-only transaction, and prints one JSON line with the resources before
 * and after (producers still open), then closes them.
 */
import { GroupConsumer } from "../../../connectors/kafka/group.js";
import { resolveOptions } from "../../../connectors/kafka/options.js";
import { TransactionalProducer } from "../../../connectors/kafka/transactions.js";
import { consoleLogger } from "../../../runtime/support.js";
import { sample } from "./resources.js";

const [brokerList, topic, prefix, countArg] = process.argv.slice(2);
if (!brokerList || !topic || !prefix || !countArg) {
  throw new Error("usage: memory-child.ts <brokers> <topic> <transactional-id prefix> <count>");
}
const brokers = brokerList.split(",");
const count = Number(countArg);
const options = (transactionalId: string) =>
  resolveOptions({
    brokers,
    clientId: "bench-commitpath-memory",
    groupId: `${prefix}.unused-group`,
    inputTopic: `${prefix}.unused-input`,
    changelogTopic: topic,
    transactionalId,
    logger: consoleLogger("bench commitpath memory"),
  });
// never started: only its type is needed, step-only commits do not touch the group
const group = new GroupConsumer(options(`${prefix}.unused`));
const port = Number(brokers[0]?.split(":").pop());
// warm the module and allocator paths with one producer before the baseline
const warm = new TransactionalProducer(options(`${prefix}.warm`), group);
await warm.commit({ records: [{ topic, partition: 0, key: Buffer.from("warm"), value: Buffer.alloc(160) }], offsets: new Map() });
const before = sample(port);
const producers = Array.from({ length: count }, (_, i) => new TransactionalProducer(options(`${prefix}.m${i}`), group));
await Promise.all(
  producers.map((p, i) =>
    p.commit({ records: [{ topic, partition: 0, key: Buffer.from(`m${i}`), value: Buffer.alloc(160) }], offsets: new Map() }),
  ),
);
await new Promise((r) => setTimeout(r, 500));
const after = sample(port);
process.stdout.write(
  JSON.stringify({
    producers: count,
    rss_added_mb: Math.round((after.rssMb - before.rssMb) * 10) / 10,
    threads_added: after.threads - before.threads,
    broker_connections_added: after.brokerConnections - before.brokerConnections,
  }) + "\n",
);
await Promise.all([warm, ...producers].map((p) => p.stop()));
process.exit(0);
