import type { InboundRecord } from "../log/log.js";
import type { Clock, Logger } from "../support.js";
import { H } from "./headers.js";

/** Kafka's own rule for topic names. */
const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;

export function isValidTopicName(name: string): boolean {
  return TOPIC_NAME.test(name) && name !== "." && name !== "..";
}

/**
 * Which reply topics exist. A reply to a missing topic would make every transaction that
 * carries it fail (and, retried, stall the whole process), so invocations naming one are
 * rejected to the DLQ instead. Existing topics are remembered for good; missing ones are
 * asked again after `recheckMs`, so a topic created later starts working.
 */
export class ReplyTopics {
  private readonly existing = new Set<string>();
  private readonly missingSince = new Map<string, number>();

  constructor(
    private readonly lookup: (names: string[]) => Promise<Set<string>>,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly recheckMs = 10_000,
  ) {}

  /** True/false when known, undefined when it has to be looked up (see `refresh`). */
  exists(topic: string): boolean | undefined {
    if (this.existing.has(topic)) return true;
    const since = this.missingSince.get(topic);
    if (since !== undefined && this.clock.now() - since < this.recheckMs) return false;
    return undefined;
  }

  /** Reply topics of these records whose existence is not known now. */
  unknownIn(records: InboundRecord[]): string[] {
    const out = new Set<string>();
    for (const r of records) {
      const topic = r.headers[H.replyTo]?.toString("utf8");
      if (topic && isValidTopicName(topic) && this.exists(topic) === undefined) out.add(topic);
    }
    return [...out];
  }

  /** Looks the topics up; on a lookup failure retries until it gets an answer. */
  async refresh(topics: string[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const found = await this.lookup(topics);
        for (const t of topics) {
          if (found.has(t)) {
            this.existing.add(t);
            this.missingSince.delete(t);
          } else {
            this.missingSince.set(t, this.clock.now());
          }
        }
        return;
      } catch (e) {
        this.logger.warn(`looking up reply topics ${topics.join(", ")} failed (attempt ${attempt}): ${(e as Error).message}; retrying`);
        await new Promise((r) => this.clock.setTimeout(() => r(undefined), Math.min(5_000, 100 * 2 ** attempt)));
      }
    }
  }
}
