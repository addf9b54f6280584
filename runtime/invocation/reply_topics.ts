import type { InboundRecord } from "../log/log.js";
import type { Clock, Logger } from "../support.js";
import { H } from "./headers.js";

/** Kafka's own rule for topic names. */
const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;

export function isValidTopicName(name: string): boolean {
  return TOPIC_NAME.test(name) && name !== "." && name !== "..";
}

/**
 * What is known of a reply topic: "ok" (exists), "missing", "reserved" (one the runtime owns,
 * or Kafka's internal `__*` topics: callers may never make the runtime write there), or
 * undefined (unknown now: look it up before ingesting a record that names it).
 */
export type ReplyTopicStatus = "ok" | "missing" | "reserved" | undefined;

export interface ReplyTopicsOptions {
  /** Topics the runtime owns (invocations, changelog, DLQ): refused as reply targets. */
  reserved: string[];
  /** How long an existing topic is trusted before it is looked up again (deleted topics). */
  existingTtlMs: number;
  /** How long a missing topic stays missing before it is looked up again (created later). */
  missingTtlMs?: number;
  /** Most topics remembered; the oldest answers are forgotten first (looked up again if named). */
  maxEntries?: number;
}

/**
 * Which reply topics (and emit targets) exist. A reply to a missing topic would make every transaction that
 * carries it fail (and, retried, stall the whole process), so invocations naming one are
 * rejected to the DLQ instead. Answers expire (existing ones after `existingTtlMs`, missing
 * ones after `missingTtlMs`) and the cache holds at most `maxEntries` topics, so memory does
 * not grow with the number of topics callers name.
 */
export class ReplyTopics {
  /** topic → answer and when it was given; insertion order = age (refreshed entries move to the end). */
  private readonly known = new Map<string, { exists: boolean; at: number }>();
  private readonly reserved: Set<string>;
  private readonly missingTtlMs: number;
  private readonly maxEntries: number;

  constructor(
    private readonly lookup: (names: string[]) => Promise<Set<string>>,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly options: ReplyTopicsOptions,
  ) {
    this.reserved = new Set(options.reserved);
    this.missingTtlMs = options.missingTtlMs ?? 10_000;
    this.maxEntries = options.maxEntries ?? 10_000;
  }

  status(topic: string): ReplyTopicStatus {
    if (this.reserved.has(topic) || topic.startsWith("__")) return "reserved";
    const entry = this.known.get(topic);
    if (!entry) return undefined;
    const ttl = entry.exists ? this.options.existingTtlMs : this.missingTtlMs;
    if (this.clock.now() - entry.at >= ttl) return undefined;
    return entry.exists ? "ok" : "missing";
  }

  /** Valid reply topics of these records whose existence is not known now. */
  unknownIn(records: InboundRecord[]): string[] {
    const out = new Set<string>();
    for (const r of records) {
      const topic = r.headers[H.replyTo]?.toString("utf8");
      if (topic && isValidTopicName(topic) && this.status(topic) === undefined) out.add(topic);
    }
    return [...out];
  }

  /** Looks the topics up; on a lookup failure retries until it gets an answer. */
  async refresh(topics: string[]): Promise<void> {
    if (topics.length === 0) return;
    for (let attempt = 1; ; attempt++) {
      try {
        const found = await this.lookup(topics);
        const now = this.clock.now();
        for (const t of topics) {
          this.known.delete(t);
          this.known.set(t, { exists: found.has(t), at: now });
        }
        for (const oldest of this.known.keys()) {
          if (this.known.size <= this.maxEntries) break;
          this.known.delete(oldest);
        }
        return;
      } catch (e) {
        this.logger.warn(
          `looking up topics ${topics.join(", ")} (reply or emit targets) failed (attempt ${attempt}): ${(e as Error).message}; retrying`,
        );
        await new Promise((r) => this.clock.setTimeout(() => r(undefined), Math.min(5_000, 100 * 2 ** attempt)));
      }
    }
  }
}
