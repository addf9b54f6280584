/**
 * The records a relay writes for one source record: the invocation record on
 * `<app>.invocations` (docs/record-format.md, "Invocations made by subscriptions") or its
 * DLQ copy. Pure: allocation of the per-subscription constant parts happens once.
 */
import { H, KVO_HEADER_PREFIX } from "../invocation/headers.js";
import type { InboundRecord, OutboundRecord } from "../log/log.js";
import type { TopicNames } from "../options.js";
import { fittedDlqRecord } from "../partition/record_limits.js";
import { SOURCE_HEADER, SOURCE_HEADERS, SourceHeaderWriter } from "./source_headers.js";
import type { ResolvedSubscription } from "./subscription.js";

export class RelayRecords {
  private readonly handlerHeader: Buffer;
  private readonly subscriptionHeader: Buffer;
  private readonly source: SourceHeaderWriter;
  /** `<Target>/`: the start of every routing key. */
  private readonly keyPrefix: string;

  constructor(
    private readonly sub: ResolvedSubscription,
    private readonly topics: TopicNames,
    private readonly maxRecordBytes: number,
  ) {
    this.handlerHeader = Buffer.from(sub.handler);
    this.subscriptionHeader = Buffer.from(sub.name);
    this.source = new SourceHeaderWriter(sub.name, sub.topic);
    this.keyPrefix = `${sub.target.name}/`;
  }

  /** One call of the subscription's handler for `key` (null: a service without key) with `input` (JSON). */
  invocation(record: InboundRecord, key: string | null, input: Buffer | null): OutboundRecord {
    const target = this.sub.target;
    // A service has no object key: spread its calls by source partition (order is per partition anyway).
    const routingKey = key ?? (target.kind === "service" ? `p${record.partition}` : null);
    const headers: Record<string, Buffer> = {};
    // The source record's own headers, except kvo-* ones: those would steer the runtime
    // (reply topics, idempotency keys) on behalf of whoever produced the source record.
    const own = record.headers;
    for (const name of Object.keys(own)) if (!name.startsWith(KVO_HEADER_PREFIX)) headers[name] = own[name]!;
    headers[H.handler] = this.handlerHeader;
    headers[SOURCE_HEADER] = this.source.value(record.partition, Number(record.offset), record.timestamp, record.key);
    return {
      topic: this.topics.invocations,
      key: Buffer.from(routingKey === null ? target.name : this.keyPrefix + routingKey),
      value: input,
      headers,
    };
  }

  /** The DLQ copy of a source record: reason, source coordinates and the subscription's name in headers. */
  deadLetter(record: InboundRecord, code: string, message: string): OutboundRecord {
    const dlq = fittedDlqRecord(this.topics.dlq, this.sub.topic, record, { code, message }, this.maxRecordBytes);
    dlq.headers = { ...dlq.headers, [SOURCE_HEADERS.subscription]: this.subscriptionHeader };
    return dlq;
  }
}
