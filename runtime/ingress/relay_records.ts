/**
 * The records a relay writes for one source record: the invocation record on
 * `<app>.invocations` (docs/record-format.md, "Invocations made by subscriptions") or its
 * DLQ copy. Pure: allocation of the per-subscription constant parts happens once.
 */
import { H, KVO_HEADER_PREFIX } from "../invocation/headers.js";
import type { InboundRecord, OutboundRecord } from "../log/log.js";
import type { TopicNames } from "../options.js";
import { fittedDlqRecord } from "../partition/record_limits.js";
import { sourceHeaders, SOURCE_HEADERS } from "./source_headers.js";
import type { ResolvedSubscription } from "./subscription.js";

export class RelayRecords {
  private readonly handlerHeader: Buffer;
  private readonly constantHeaders: { subscription: Buffer; topic: Buffer };

  constructor(
    private readonly sub: ResolvedSubscription,
    private readonly topics: TopicNames,
    private readonly maxRecordBytes: number,
  ) {
    this.handlerHeader = Buffer.from(sub.handler);
    this.constantHeaders = { subscription: Buffer.from(sub.name), topic: Buffer.from(sub.topic) };
  }

  /** One call of the subscription's handler for `key` (null: a service without key) with `input` (JSON). */
  invocation(record: InboundRecord, key: string | null, input: Buffer | null): OutboundRecord {
    const target = this.sub.target;
    // A service has no object key: spread its calls by source partition (order is per partition anyway).
    const routingKey = key ?? (target.kind === "service" ? `p${record.partition}` : null);
    const headers: Record<string, Buffer> = {};
    // The source record's own headers, except kvo-* ones: those would steer the runtime
    // (reply topics, idempotency keys) on behalf of whoever produced the source record.
    for (const [name, value] of Object.entries(record.headers)) if (!name.startsWith(KVO_HEADER_PREFIX)) headers[name] = value;
    headers[H.handler] = this.handlerHeader;
    Object.assign(
      headers,
      sourceHeaders(
        {
          subscription: this.sub.name,
          topic: this.sub.topic,
          partition: record.partition,
          offset: Number(record.offset),
          timestamp: record.timestamp,
          key: record.key,
        },
        this.constantHeaders,
      ),
    );
    return {
      topic: this.topics.invocations,
      key: Buffer.from(routingKey === null ? target.name : `${target.name}/${routingKey}`),
      value: input,
      headers,
    };
  }

  /** The DLQ copy of a source record: reason, source coordinates and the subscription's name in headers. */
  deadLetter(record: InboundRecord, code: string, message: string): OutboundRecord {
    const dlq = fittedDlqRecord(this.topics.dlq, this.sub.topic, record, { code, message }, this.maxRecordBytes);
    dlq.headers = { ...dlq.headers, [SOURCE_HEADERS.subscription]: this.constantHeaders.subscription };
    return dlq;
  }
}
