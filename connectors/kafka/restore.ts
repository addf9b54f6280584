/**
 * readChangelog: reads one changelog partition read_committed from its start to its last
 * stable offset (LSO).
 *
 * Transactions still open on the partition at the time of the call are waited for first (up
 * to the transaction timeout), so the read also covers a previous owner's last transaction
 * that is completing: its commit marker on the changelog partition can land after its
 * offsets became stable (committedOffset), because the coordinator writes the markers of
 * each partition separately. A transaction open longer than that is left out (it is either
 * a zombie's, aborted by the coordinator, or ours, and then not for a partition being restored).
 *
 * The LSO comes from ListOffsets with isolation level read_committed (librdkafka uses the
 * consumer's isolation.level for watermark queries). Records at or past it are not delivered.
 * The end is detected by partition EOF (for read_committed, librdkafka's end is the LSO) or by
 * seeing an offset at or past the LSO, because the last offsets before the LSO are often
 * transaction markers, which a reader never sees.
 */
import type { InboundRecord } from "../../runtime/log/log.js";
import { describe } from "./errors.js";
import { baseConfig, type ResolvedOptions } from "./options.js";
import {
  OFFSET_BEGINNING,
  RdKafka as Rd,
  connect,
  consume,
  disconnect,
  newConsumer,
  setConsumeTimeout,
  sleep,
  toInbound,
  watermarks,
  type Consumer,
} from "./rdkafka.js";

export class ChangelogReader {
  private connecting: Promise<Consumer> | null = null;
  private admin: Rd.IAdminClient | null = null;
  private chain: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly o: ResolvedOptions) {}

  /** One read at a time (the reader has one assignment); calls queue up. */
  read(partition: number, onRecord: (record: InboundRecord) => void): Promise<void> {
    const run = this.chain.then(() => this.readNow(partition, onRecord));
    this.chain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.chain;
    const c = this.connecting ? await this.connecting.catch(() => null) : null;
    this.connecting = null;
    this.admin = null; // shares the consumer's connection
    if (c) await disconnect(c);
  }

  private connectOnce(): Promise<Consumer> {
    if (!this.connecting) {
      const c = newConsumer({
        ...baseConfig(this.o, "restore"),
        // never joins: partitions are assigned by hand, nothing is committed
        "group.id": `${this.o.groupId}.restore`,
        "enable.auto.commit": false,
        "enable.auto.offset.store": false,
        "isolation.level": "read_committed",
        "enable.partition.eof": true,
        "fetch.wait.max.ms": 100,
        ...this.o.rdkafka,
      });
      c.on("event.error", (err) => this.o.logger.warn(`restore consumer: ${describe(err)}`));
      const attempt = connect(c, 30_000).then(() => {
        setConsumeTimeout(c, 200);
        this.admin = Rd.AdminClient.createFrom(c);
        return c;
      });
      this.connecting = attempt;
      attempt.catch(() => {
        if (this.connecting === attempt) this.connecting = null;
      });
    }
    return this.connecting;
  }

  /** Watermarks with read_committed (high = LSO), once transactions open at the call ended. */
  private async stableEnd(c: Consumer, partition: number): Promise<Rd.WatermarkOffsets> {
    const topic = this.o.changelogTopic;
    const hwm = await this.highWatermark(partition);
    const deadline = Date.now() + this.o.transactionTimeoutMs;
    for (;;) {
      const w = await watermarks(c, topic, partition, 30_000);
      if (w.highOffset >= hwm || Date.now() > deadline) {
        if (w.highOffset < hwm) {
          this.o.logger.warn(
            `${topic}[${partition}]: a transaction is still open after ${this.o.transactionTimeoutMs} ms; ` +
              `reading up to its start (offset ${w.highOffset})`,
          );
        }
        return w;
      }
      await sleep(20);
    }
  }

  /** End of the log including records of open transactions (read_uncommitted). */
  private async highWatermark(partition: number): Promise<number> {
    const admin = this.admin;
    if (!admin) throw new Error("restore reader is not connected");
    const [r] = await new Promise<Rd.ListOffsetsResult[]>((resolve, reject) =>
      admin.listOffsets(
        [{ topic: this.o.changelogTopic, partition, offset: Rd.OffsetSpec.LATEST }],
        { timeout: 30_000, isolationLevel: Rd.IsolationLevel.READ_UNCOMMITTED },
        (err, res) => (err ? reject(err) : resolve(res)),
      ),
    );
    if (r?.error) throw r.error;
    if (!r) throw new Error(`no end offset for ${this.o.changelogTopic}[${partition}]`);
    return r.offset;
  }

  private async readNow(partition: number, onRecord: (record: InboundRecord) => void): Promise<void> {
    if (this.stopped) throw new Error("readChangelog: the Kafka transport is stopped");
    const c = await this.connectOnce();
    const topic = this.o.changelogTopic;
    const { lowOffset, highOffset: lso } = await this.stableEnd(c, partition);
    if (lso <= lowOffset) return;

    let end = false;
    const onEof = (e: Rd.EofEvent): void => {
      if (e.topic === topic && e.partition === partition && e.offset >= lso) end = true;
    };
    c.on("partition.eof", onEof);
    c.assign([{ topic, partition, offset: OFFSET_BEGINNING }]);
    try {
      while (!end) {
        if (this.stopped) throw new Error("readChangelog: the Kafka transport is stopped");
        let messages: Rd.Message[];
        try {
          messages = await consume(c, 1000);
        } catch (err) {
          this.o.logger.warn(`reading ${topic}[${partition}]: ${describe(err)}; retrying`);
          await sleep(200);
          continue;
        }
        for (const m of messages) {
          if (m.topic !== topic || m.partition !== partition) continue;
          if (m.offset >= lso) {
            end = true;
            break;
          }
          onRecord(toInbound(m));
          if (m.offset === lso - 1) end = true;
        }
      }
    } finally {
      c.removeListener("partition.eof", onEof);
      c.unassign();
    }
  }
}
