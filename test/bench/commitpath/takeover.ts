/**
 * What scheme B pays and relies on when a partition changes owner, at the client level:
 *
 * - open: the first commit of a new owner's producers (connect + initTransactions + one
 *   step-only transaction), for one producer (A: once per process) and for all partitions'
 *   producers in parallel (B: on every assignment; with EAGER rebalancing, every rebalance);
 *   and how long closing B's producers takes (on every revocation).
 * - fencing: a "zombie" producer holds an open transaction with a record for changelog
 *   partition 0 under transactional.id `<app>-p0`; the new owner's producer with the same id
 *   commits (its initTransactions aborts the zombie's transaction and bumps the epoch); the
 *   zombie's commit must then fail as fenced and its record must not be visible
 *   read_committed, while the new owner's is.
 */
import { classifyTxnError, asRdError, describe } from "../../../connectors/kafka/errors.js";
import {
  beginTransaction,
  commitTransaction,
  connect,
  disconnect,
  initTransactions,
  newProducer,
  type Producer,
} from "../../../connectors/kafka/rdkafka.js";
import type { TransactionalProducer } from "../../../connectors/kafka/transactions.js";
import type { OutboundRecord } from "../../../runtime/log/log.js";
import { readCommittedKeys } from "../clients/tools.js";
import { median } from "../stats.js";
import type { Fixture } from "./fixture.js";

export interface TakeoverResult {
  /** A: first commit of the process's one producer, ms. */
  openOneMs: number;
  /** B: first commits of one producer per partition, started together: until all are done, ms. */
  openAllMs: number;
  /** B: median of those producers' own first-commit times, ms. */
  openEachP50Ms: number;
  /** B: stopping all partitions' producers (revocation), ms. */
  closeAllMs: number;
  /** New owner's first commit while a zombie holds an open transaction of the same id, ms. */
  takeoverMs: number;
  /** How the zombie's commitTransaction ended ("producer-fenced" expected). */
  zombieCommit: string;
  /** The zombie's record is absent from the read_committed changelog, the owner's present. */
  zombieInvisible: boolean;
  ownerVisible: boolean;
}

const step = (f: Fixture, partition: number, key: string): OutboundRecord => ({
  topic: f.changelog,
  partition,
  key: Buffer.from(key),
  value: Buffer.alloc(160, 0x61),
});

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

async function openZombie(f: Fixture, transactionalId: string): Promise<Producer> {
  const z = newProducer({
    "bootstrap.servers": f.brokers.join(","),
    "client.id": "bench-commitpath-zombie",
    "transactional.id": transactionalId,
    "enable.idempotence": true,
    "transaction.timeout.ms": 10_000,
    "linger.ms": 1,
  });
  await connect(z, 30_000);
  z.setPollInBackground(true);
  await initTransactions(z, 30_000);
  await beginTransaction(z);
  z.produce(f.changelog, 0, Buffer.from("zombie"), Buffer.from("zombie"));
  // the record reaches the broker (the transaction is open there, not just locally)
  await new Promise<void>((resolve, reject) =>
    z.flush(10_000, (err) => (err ? reject(new Error(`zombie producer: flush failed: ${describe(err)}`)) : resolve())),
  );
  return z;
}

export async function takeover(f: Fixture): Promise<TakeoverResult> {
  const partitions = Array.from({ length: f.partitions }, (_, p) => p);

  const one = f.producer("instance-0");
  const openOneMs = await timed(() => one.commit({ records: [step(f, 0, "a-first")], offsets: new Map() }));

  const perPartition: TransactionalProducer[] = partitions.map((p) => f.producer(`p${p}`));
  const each: number[] = [];
  const openAllMs = await timed(() =>
    Promise.all(
      perPartition.map(async (producer, p) => {
        each.push(await timed(() => producer.commit({ records: [step(f, p, `b-first-${p}`)], offsets: new Map() })));
      }),
    ),
  );
  const closeAllMs = await timed(() => Promise.all(perPartition.map((p) => p.stop())));

  const tid = `${f.id}.takeover-p0`;
  const zombie = await openZombie(f, tid);
  let zombieCommit = "committed";
  let takeoverMs = Number.NaN;
  try {
    const owner = f.producer("takeover-p0");
    takeoverMs = await timed(() => owner.commit({ records: [step(f, 0, "owner")], offsets: new Map() }));
    try {
      await commitTransaction(zombie, 10_000);
    } catch (err) {
      const kind = classifyTxnError(asRdError(err));
      zombieCommit = kind === "producer-fenced" ? kind : `${kind}: ${describe(err)}`;
    }
  } finally {
    await disconnect(zombie, 1000);
  }
  const keys = await readCommittedKeys(f.brokers, f.changelog);
  return {
    openOneMs,
    openAllMs,
    openEachP50Ms: median(each),
    closeAllMs,
    takeoverMs,
    zombieCommit,
    zombieInvisible: !keys.includes("zombie"),
    ownerVisible: keys.includes("owner"),
  };
}
