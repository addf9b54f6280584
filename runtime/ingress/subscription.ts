/**
 * Subscriptions: "every record of this topic is a call of this handler". Declared in the
 * runtime options next to the objects they feed:
 *
 *   subscriptions: [subscribe({ topic: "factory.readings", to: [device, "report"], value: avro() })]
 *
 * This file holds the public shapes, the helpers that build them and their validation (called
 * from options.ts, the one place options are checked). How records travel from the source topic
 * to the objects is the relay (relay.ts) and docs/design.md ("Subscriptions").
 */
import type { Definition } from "../../sdk/definitions.js";
import { handlersOf } from "../../sdk/definitions.js";
import { ConfigurationError } from "../../sdk/errors.js";
import type { AvroFormat } from "../../sdk/avro_format.js";
import { isValidTopicName } from "../invocation/reply_topics.js";

/** A record of a subscribed topic, as key functions, filters and custom decoders see it. */
export interface SourceRecord {
  topic: string;
  partition: number;
  /** Offset in its partition (Kafka offsets stay far below 2^53). */
  offset: number;
  /** Record timestamp, ms since epoch. */
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: Readonly<Record<string, Buffer>>;
}

/**
 * Where the object key comes from:
 * - "record-key" (default): the record key as UTF-8 text;
 * - `{ field: "device.id" }`: a field of the decoded value (dotted path), a string or a number;
 * - `{ header: "device-id" }`: a header of the record, as UTF-8 text;
 * - a function of the record and its decoded value.
 * A record whose key comes out empty (null, "", missing field) is dead-lettered with `missing_key`
 * when the target is an object; a service uses it only to spread calls and accepts none.
 */
export type SubscriptionKey =
  "record-key" | { field: string } | { header: string } | ((record: SourceRecord, value: unknown) => string | number | null | undefined);

/** A decoder of your own; a throw dead-letters the record with `decode_failed` and the message. */
export interface CustomValueFormat {
  readonly kind: "custom";
  decode(value: Buffer | null, record: SourceRecord): unknown;
}

/**
 * How a record value becomes the handler's input:
 * - "json" (default): JSON text; an empty value is `null`;
 * - "string": UTF-8 text; an empty value is `null`;
 * - "bytes": the value as a base64 string (handler inputs are JSON); empty is `null`;
 * - avro({ schema? }): Avro in the Confluent wire format, decoded by the writer schema id of each
 *   record (Schema Registry), into `schema` when given (schema evolution: added fields get their
 *   defaults); bytes/fixed become base64 strings, see docs/schema-registry.md;
 * - decoder(fn): your own function; its result must be JSON-serialisable.
 */
export type SubscriptionValue = "json" | "string" | "bytes" | AvroFormat | CustomValueFormat;

/** Decode record values with your own function (sync or async). */
export function decoder(decode: (value: Buffer | null, record: SourceRecord) => unknown): CustomValueFormat {
  return Object.freeze({ kind: "custom" as const, decode });
}

type HandlerName<D extends Definition> = keyof D["handlers"] & string;

export interface SubscriptionOptions<D extends Definition = Definition, K extends HandlerName<D> = HandlerName<D>> {
  /** The topic to read: one that exists or that other systems write; any partition count. */
  topic: string;
  /** The handler each record calls: `[device, "report"]`. For an object, `key` picks the object. */
  to: readonly [D, K];
  /**
   * Stable name of the subscription (default `<topic>.<Target>.<handler>`). It names the
   * subscription's consumer group (`<app>.sub.<name>`) and is part of every invocation id:
   * renaming a subscription makes it a new one, which starts again at `start`.
   */
  name?: string;
  key?: SubscriptionKey;
  value?: SubscriptionValue;
  /** Only records for which this returns true become invocations; the others are skipped (counted). */
  filter?: (value: unknown, record: SourceRecord) => boolean;
  /** Where a subscription without committed offsets starts: "earliest" (default) or "latest". */
  start?: "earliest" | "latest";
  /**
   * Create the topic when it does not exist (otherwise the subscription waits for it and says
   * so every 30 s).
   */
  createTopic?: { partitions: number; replicationFactor?: number };
}

/** A declared subscription (build it with `subscribe`). */
export interface Subscription {
  readonly kind: "subscription";
  readonly options: SubscriptionOptions;
}

/** Declares a subscription: every record of `topic` becomes one invocation of `to`, exactly once. */
export function subscribe<D extends Definition, K extends HandlerName<D>>(options: SubscriptionOptions<D, K>): Subscription {
  return Object.freeze({ kind: "subscription" as const, options });
}

/** A subscription with its defaults applied, checked against the app's definitions. */
export interface ResolvedSubscription {
  name: string;
  topic: string;
  target: Definition;
  handler: string;
  key: SubscriptionKey;
  value: SubscriptionValue;
  filter: ((value: unknown, record: SourceRecord) => boolean) | undefined;
  start: "earliest" | "latest";
  createTopic: { partitions: number; replicationFactor: number } | undefined;
  /** Consumer group of the relay: `<app>.sub.<name>`. */
  groupId: string;
}

const NAME_PATTERN = /^[A-Za-z0-9._-]{1,200}$/;

function fail(where: string, message: string): never {
  throw new ConfigurationError(`${where}: ${message}`);
}

export function resolveSubscriptions(
  app: string,
  subscriptions: readonly Subscription[] | undefined,
  hosted: readonly Definition[],
  reservedTopics: readonly string[],
  defaultReplicationFactor: number,
): ResolvedSubscription[] {
  if (subscriptions === undefined) return [];
  if (!Array.isArray(subscriptions)) fail("subscriptions", "must be an array of subscribe({...}) values");
  const byName = new Map<string, ResolvedSubscription>();
  subscriptions.forEach((s: Subscription, index) => {
    const at = `subscriptions[${index}]`;
    if (s?.kind !== "subscription") fail(at, "is not a subscription; build it with subscribe({ topic, to: [definition, handler] })");
    const o = s.options;
    if (typeof o.topic !== "string" || !isValidTopicName(o.topic))
      fail(at, `topic "${String(o.topic)}" is not a valid Kafka topic name (1-249 of [A-Za-z0-9._-])`);
    if (reservedTopics.includes(o.topic) || o.topic.startsWith("__"))
      fail(at, `topic "${o.topic}" is one of the runtime's own topics or a Kafka internal topic; subscribe to a topic of your own`);
    if (!Array.isArray(o.to) || o.to.length !== 2) fail(at, `to must be [definition, "handler"], e.g. to: [device, "report"]`);
    const [target, handler] = o.to;
    if (!hosted.includes(target))
      fail(
        at,
        `to names ${typeof target?.name === "string" ? target.name : "something"} that this runtime does not host; add it to objects or services`,
      );
    if (typeof handler !== "string" || !Object.hasOwn(handlersOf(target), handler))
      fail(at, `${target.name} has no handler "${String(handler)}" (known: ${Object.keys(handlersOf(target)).join(", ")})`);
    const name = o.name ?? `${o.topic}.${target.name}.${handler}`;
    if (!NAME_PATTERN.test(name)) fail(at, `name "${name}" is invalid: use 1-200 letters, digits, '.', '_' or '-'`);
    if (byName.has(name)) fail(at, `two subscriptions are named "${name}"; give one of them another name`);
    const key = o.key ?? "record-key";
    checkKey(at, key);
    const value = o.value ?? "json";
    checkValue(at, value);
    if (o.filter !== undefined && typeof o.filter !== "function") fail(at, "filter must be a function (value, record) => boolean");
    const start = o.start ?? "earliest";
    if (start !== "earliest" && start !== "latest") fail(at, `start must be "earliest" or "latest", got ${String(start)}`);
    let createTopic: ResolvedSubscription["createTopic"];
    if (o.createTopic !== undefined) {
      const { partitions, replicationFactor = defaultReplicationFactor } = o.createTopic;
      if (!Number.isSafeInteger(partitions) || partitions < 1) fail(at, `createTopic.partitions must be a positive integer`);
      if (!Number.isSafeInteger(replicationFactor) || replicationFactor < 1)
        fail(at, `createTopic.replicationFactor must be a positive integer`);
      createTopic = { partitions, replicationFactor };
    }
    byName.set(name, {
      name,
      topic: o.topic,
      target,
      handler,
      key,
      value,
      filter: o.filter,
      start,
      createTopic,
      groupId: `${app}.sub.${name}`,
    });
  });
  return [...byName.values()];
}

function checkKey(at: string, key: SubscriptionKey): void {
  if (key === "record-key" || typeof key === "function") return;
  if (typeof key === "object" && key !== null) {
    if ("field" in key && typeof key.field === "string" && key.field.length > 0) return;
    if ("header" in key && typeof key.header === "string" && key.header.length > 0) return;
  }
  fail(at, `key must be "record-key", { field: "path.in.value" }, { header: "name" } or a function (record, value) => key`);
}

function checkValue(at: string, value: SubscriptionValue): void {
  if (value === "json" || value === "string" || value === "bytes") return;
  if (typeof value === "object" && value !== null) {
    if (value.kind === "avro") return;
    if (value.kind === "custom" && typeof value.decode === "function") return;
  }
  fail(at, `value must be "json", "string", "bytes", avro({ schema? }) or decoder(fn)`);
}
