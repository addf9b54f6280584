/**
 * Is this process's identity (its transactional.id, i.e. kafka.instanceId) used by another
 * live process? Asked after an ambiguous fence, before the producer is initialised again.
 *
 * librdkafka reports "fenced by a newer instance" both when another producer initialised the
 * same transactional.id (a successor started with our instanceId while this process was
 * paused) and when the coordinator aborted our transaction for outliving
 * transaction.timeout.ms (a broker outage). In the first case initialising again would fence
 * the live successor, so the stale process must stop; in the second it must go on. The group
 * tells them apart: the consumer's client.id is derived from the transactional.id (see
 * consumerClientId), so after this process left the group, a member with that client.id is
 * a successor.
 */
import { KafkaRetryableError, describe } from "./errors.js";
import { baseConfig, type ResolvedOptions } from "./options.js";
import { RdKafka } from "./rdkafka.js";

/** The group consumer's client.id: unique per transactional identity, whatever clientId is. */
export function consumerClientId(o: ResolvedOptions): string {
  return `${o.transactionalId}-consumer`;
}

/** Members of the app's group that carry this process's consumer client.id (0 when none). */
export async function membersWithOurIdentity(o: ResolvedOptions): Promise<number> {
  const admin = RdKafka.AdminClient.create({ ...baseConfig(o, "admin"), ...o.rdkafka });
  try {
    const result = await new Promise<RdKafka.GroupDescriptions>((resolve, reject) =>
      admin.describeGroups([o.groupId], { timeout: 10_000 }, (err, value) => (err ? reject(err) : resolve(value))),
    );
    const group = result.groups.find((g) => g.groupId === o.groupId);
    if (!group) return 0;
    if (group.error) throw new KafkaRetryableError(`describing group "${o.groupId}": ${describe(group.error)}`);
    const ours = consumerClientId(o);
    return group.members.filter((m) => m.clientId === ours).length;
  } catch (err) {
    if (err instanceof KafkaRetryableError) throw err;
    throw new KafkaRetryableError(`describing group "${o.groupId}": ${describe(err)}`, { cause: err });
  } finally {
    admin.disconnect();
  }
}
