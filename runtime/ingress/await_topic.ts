/**
 * A subscription's topic before its relay joins the group: it must exist. A missing topic is
 * created when the subscription asks for it (createTopic), otherwise waited for, saying so in
 * the log and as a `subscription.waiting` event every 30 s. Lookups that fail are retried.
 */
import type { Instrumentation } from "../instrumentation.js";
import type { LogTransport } from "../log/log.js";
import type { Clock, Logger } from "../support.js";
import type { ResolvedSubscription } from "./subscription.js";

/** How often a subscription waiting for its topic says so. */
const WAITING_LOG_INTERVAL_MS = 30_000;

export interface AwaitTopicDeps {
  subscription: ResolvedSubscription;
  transport: Pick<LogTransport, "existingTopics" | "ensureTopics">;
  clock: Clock;
  logger: Logger;
  events: Instrumentation;
  /** False once the relay stops: the wait ends. */
  stillWanted(): boolean;
  /** Called once when the topic is found missing and waited for. */
  onWaiting(): void;
}

/** Resolves true once the topic exists (or was created), false when no longer wanted. */
export async function awaitTopic(d: AwaitTopicDeps): Promise<boolean> {
  const sub = d.subscription;
  let lastLog = -Infinity;
  for (let attempt = 1; d.stillWanted(); attempt++) {
    try {
      const existing = await d.transport.existingTopics([sub.topic]);
      if (existing.has(sub.topic)) return true;
      if (sub.createTopic) {
        await d.transport.ensureTopics([
          {
            name: sub.topic,
            partitions: sub.createTopic.partitions,
            replicationFactor: sub.createTopic.replicationFactor,
            cleanupPolicy: "delete",
          },
        ]);
        d.logger.info(`subscription ${sub.name}: created topic ${sub.topic}`);
        return true;
      }
      d.onWaiting();
      const message = `subscription ${sub.name}: topic ${sub.topic} does not exist; waiting for it (create it, or set createTopic on the subscription)`;
      if (d.clock.now() - lastLog >= WAITING_LOG_INTERVAL_MS) {
        d.logger.warn(message);
        d.events.emit("subscription.waiting", { name: sub.name, topic: sub.topic, message });
        lastLog = d.clock.now();
      }
    } catch (e) {
      d.logger.warn(`subscription ${sub.name}: looking up topic ${sub.topic} failed (${(e as Error).message}); retrying`);
    }
    await new Promise<void>((resolve) => d.clock.setTimeout(resolve, Math.min(5_000, 250 * attempt)));
  }
  return false;
}
