import { KvoError } from "../../sdk/errors.js";
import { BadInvocationError } from "../invocation/envelope.js";
import type { InboundRecord } from "../log/log.js";
import { defaultPartition } from "../log/partitioner.js";

/**
 * An object's record on another partition than Kafka's default partitioner gives its key: its
 * producer partitions differently (librdkafka's default, CRC32 `consistent_random`), and running
 * it there would run that object on two partitions at once (two writers, two states). Null when
 * it is where it belongs (and for services, whose records may go anywhere).
 */
export function misroutedError(record: InboundRecord, target: string, key: string | null, partitions: number): KvoError | null {
  if (key === null || record.key === null) return null;
  const expected = defaultPartition(record.key, partitions);
  if (expected === record.partition) return null;
  return new BadInvocationError(
    "wrong_partition",
    `record ${record.partition}@${record.offset} for ${target}/${key} is on partition ${record.partition}, but Kafka's default ` +
      `partitioner (murmur2) puts its key on partition ${expected}: its producer partitions differently (librdkafka's default is ` +
      `consistent_random). Produce with partitioner=murmur2_random (kcat: -X topic.partitioner=murmur2_random) or a Java/kafkajs ` +
      `client, and do not choose partitions for object records.`,
  );
}
