/**
 * Awakeables completed from outside KVO, on the real broker, across a SIGKILL of the runtime
 * process (apps/awakeable_app.ts: `Approval.wait` creates an awakeable, publishes its id from a
 * durable step, awaits it and stores what it got).
 *
 *  1. The id is out and committed; the process is SIGKILLed and a new one started; a plain
 *     kafkajs producer (not KVO's client) writes the documented resolution record, twice. The
 *     restarted process finishes the handler exactly once with the first value (one reply,
 *     `finished` = 1, the publishing step not executed again); the second record changes
 *     nothing and is dead-lettered with `unknown_awakeable`, like malformed ones before it
 *     (on another partition than the id names, a value that is not JSON: `invalid_awakeable`).
 *  2. client.rejectAwakeable, with and without a code, after a SIGKILL too: the awaiting handler
 *     catches a TerminalError with that code (default `awakeable_rejected`). The client refuses
 *     malformed ids and ids naming a partition the app does not have.
 *  3. The resolution arrives while the step that handed the id out is still running (not yet
 *     committed), as when an external system answers at once: it still completes the handler.
 *  4. The process is SIGKILLed while that step runs, and the id is resolved before a new
 *     process starts: the re-run handler (same id, deterministic) gets the value.
 */
import { Kafka, logLevel } from "kafkajs";
import { afterEach, describe, expect, it } from "vitest";
import { connectClient, type KvoClient } from "../../index.js";
import { parseAwakeableId } from "../../runtime/invocation/awakeable_id.js";
import { H } from "../../runtime/invocation/headers.js";
import type { ApprovalOutcome } from "./apps/awakeable_app.js";
import { ChildRuntime } from "./support/child_runtime.js";
import { bootstrapServers } from "./support/endpoints.js";
import { createTopic, produceInvocations, readTopic, type ReadRecord } from "./support/kafka_tools.js";
import { uniqueName } from "./support/unique.js";

const PARTITIONS = 4;

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

function startApp(app: string, env: Record<string, string> = {}): ChildRuntime {
  const child = new ChildRuntime(app, "awakeable_app.ts", { KVO_INSTANCE_ID: "awk-0", KVO_PARTITIONS: String(PARTITIONS), ...env });
  cleanups.push(() => child.stop());
  return child;
}

/** Where the outcomes of `Approval.wait` go: not the client's reply topic, which also carries its probes and answers. */
const repliesTopic = (app: string): string => `${app}.approval-replies`;

/** Starts the app and a reply topic, and starts `Approval/<key>.wait` for each key (correlation id = key). */
async function startWaiting(app: string, keys: string[], env: Record<string, string> = {}): Promise<ChildRuntime> {
  await createTopic(repliesTopic(app));
  const child = startApp(app, env);
  await child.waitFor((e) => e.event === "started", "start");
  await produceInvocations(
    `${app}.invocations`,
    keys.map((key) => ({ key: `Approval/${key}`, handler: "wait", replyTo: repliesTopic(app), correlationId: key })),
  );
  return child;
}

/** The awakeable id `Approval/<key>` published: `event` "awakeable" (step running) or "awakeable-committed". */
async function awakeableOf(child: ChildRuntime, key: string, event: "awakeable" | "awakeable-committed"): Promise<string> {
  const hit = await child.waitFor((e) => e.event === event && e.key === key, `${event} of ${key}`);
  const id = String(hit.id);
  // The id names the partition that runs the invocation: here `p<partition>-o<offset>`.
  const parts = parseAwakeableId(id);
  expect(parts, id).not.toBeNull();
  expect(parts!.invocationId).toMatch(new RegExp(`^p${parts!.partition}-o\\d+$`));
  return id;
}

async function restart(child: ChildRuntime, app: string): Promise<ChildRuntime> {
  await child.killHard();
  const next = startApp(app);
  await next.waitFor((e) => e.event === "started", "restart");
  return next;
}

/** Exactly one reply per key (read until all arrived, then 3 s more for duplicates), by key. */
async function repliesOf(app: string, keys: string[]): Promise<Map<string, ReadRecord>> {
  const records = await readTopic(repliesTopic(app), (rs) => keys.every((k) => rs.some((r) => r.headers[H.correlationId] === k)), {
    timeoutMs: 60_000,
    settleMs: 3_000,
  });
  expect(records.map((r) => r.headers[H.correlationId]).sort()).toEqual([...keys].sort());
  return new Map(records.map((r) => [r.headers[H.correlationId]!, r]));
}

function outcomeOf(reply: ReadRecord | undefined): ApprovalOutcome {
  expect(reply?.headers[H.status], "reply status").toBe("ok");
  return JSON.parse(reply!.value!.toString()) as ApprovalOutcome;
}

async function connect(app: string): Promise<KvoClient> {
  const client = await connectClient({ app, brokers: bootstrapServers(), timeoutMs: 30_000 });
  cleanups.push(() => client.close());
  return client;
}

describe("awakeables completed from outside, across a SIGKILL", () => {
  it("a plain Kafka producer resolves the awakeable of a restarted process: the handler finishes once with the first value", async () => {
    const app = uniqueName("kvo-awk");
    let child = await startWaiting(app, ["a1"]);
    const id = await awakeableOf(child, "a1", "awakeable-committed");
    const partition = parseAwakeableId(id)!.partition;
    child = await restart(child, app);

    // The documented record format, written by a plain producer: explicit partition from the id,
    // header kvo-awakeable, JSON value. Before it, two malformed ones (another partition than the
    // id names, a value that is not JSON); after it, a second resolution. None of those may count.
    const producer = new Kafka({ clientId: "kvo-it-awakeable", brokers: bootstrapServers(), logLevel: logLevel.NOTHING }).producer();
    await producer.connect();
    cleanups.push(() => producer.disconnect());
    const elsewhere = (partition + 1) % PARTITIONS;
    const headers = { "kvo-awakeable": id };
    await producer.send({
      topic: `${app}.invocations`,
      messages: [{ partition: elsewhere, key: id, value: JSON.stringify("misrouted"), headers }],
    });
    await producer.send({
      topic: `${app}.invocations`,
      messages: [
        { partition, key: id, value: "not json", headers },
        { partition, key: id, value: JSON.stringify({ approved: true, by: "ops" }), headers },
        { partition, key: id, value: JSON.stringify({ approved: false, by: "late" }), headers },
      ],
    });

    const replies = await repliesOf(app, ["a1"]);
    expect(outcomeOf(replies.get("a1"))).toEqual({ resolved: true, value: { approved: true, by: "ops" } });

    const dlq = await readTopic(`${app}.dlq`, (rs) => rs.length >= 3, { timeoutMs: 30_000, settleMs: 2_000 });
    const dead = dlq
      .map((r) => ({
        from: Number(r.headers[H.dlqSourcePartition]),
        code: r.headers[H.errorCode],
        id: r.headers["kvo-awakeable"],
        value: r.value?.toString(),
      }))
      .sort((a, b) => a.value!.localeCompare(b.value!));
    expect(dead).toEqual([
      { from: elsewhere, code: "invalid_awakeable", id, value: '"misrouted"' },
      { from: partition, code: "unknown_awakeable", id, value: '{"approved":false,"by":"late"}' },
      { from: partition, code: "invalid_awakeable", id, value: "not json" },
    ]);

    const client = await connect(app);
    expect(await client.call("Approval", "a1", "status")).toEqual({
      awakeableId: id,
      outcome: { resolved: true, value: { approved: true, by: "ops" } },
      finished: 1,
    });
    // The restarted process replayed the handler (same awakeable id) without running the
    // publishing step again: its result came from the journal.
    await child.waitFor((e) => e.event === "awakeable-committed" && e.key === "a1", "replay in the restarted process");
    expect(child.events.filter((e) => e.key === "a1").map((e) => [e.event, e.id])).toEqual(
      child.events.filter((e) => e.key === "a1").map(() => ["awakeable-committed", id]),
    );
  }, 180_000);

  it("client.rejectAwakeable fails the awaiting handler with a TerminalError of that code (default awakeable_rejected)", async () => {
    const app = uniqueName("kvo-awk-reject");
    let child = await startWaiting(app, ["r1", "r2"]);
    const id1 = await awakeableOf(child, "r1", "awakeable-committed");
    const id2 = await awakeableOf(child, "r2", "awakeable-committed");
    child = await restart(child, app);

    const client = await connect(app);
    // Refused before anything is written: not an id, and an id of a partition this app lacks.
    await expect(client.resolveAwakeable("awk.1.x.cDEtbzI", 1)).rejects.toMatchObject({
      code: "invalid_awakeable",
      message: expect.stringContaining("awk.<partition>.<entry>.<base64url invocation id>") as string,
    });
    const elsewhere = id1.replace(/^awk\.\d+\./, `awk.${PARTITIONS}.`);
    await expect(client.rejectAwakeable(elsewhere, "no")).rejects.toMatchObject({
      code: "invalid_awakeable",
      message: expect.stringContaining(`has ${PARTITIONS} partitions`) as string,
    });

    await client.rejectAwakeable(id1, "denied by ops", "denied");
    await client.rejectAwakeable(id2, "no reason given");
    const replies = await repliesOf(app, ["r1", "r2"]);
    expect(outcomeOf(replies.get("r1"))).toEqual({ resolved: false, terminal: true, code: "denied", message: "denied by ops" });
    expect(outcomeOf(replies.get("r2"))).toEqual({
      resolved: false,
      terminal: true,
      code: "awakeable_rejected",
      message: "no reason given",
    });
    expect(await client.call("Approval", "r1", "status")).toMatchObject({ finished: 1 });
  }, 180_000);

  it("a resolution that arrives before the step handing out the id is committed still completes the handler", async () => {
    const app = uniqueName("kvo-awk-early");
    const child = await startWaiting(app, ["e1"], { PUBLISH_DELAY_MS: "3000" });
    const client = await connect(app);
    const id = await awakeableOf(child, "e1", "awakeable");
    await client.resolveAwakeable(id, "early");
    // The step was still running when the resolution was written.
    expect(child.events.some((e) => e.event === "awakeable-committed")).toBe(false);

    const replies = await repliesOf(app, ["e1"]);
    expect(outcomeOf(replies.get("e1"))).toEqual({ resolved: true, value: "early" });
    expect(await client.call("Approval", "e1", "status")).toMatchObject({ finished: 1 });
  }, 180_000);

  it("an id handed out by a step that a SIGKILL interrupted, resolved while no process runs, completes the re-run handler", async () => {
    const app = uniqueName("kvo-awk-interrupted");
    const slow = { PUBLISH_DELAY_MS: "5000" };
    let child = await startWaiting(app, ["k1"], slow);
    const client = await connect(app);
    const id = await awakeableOf(child, "k1", "awakeable");
    await child.killHard();
    // Written before any process owns the partition again: the new owner reads it right after
    // restoring the invocation, racing the re-run handler that creates the awakeable again.
    await client.resolveAwakeable(id, { approved: "after the crash" });
    child = startApp(app, slow);

    const replies = await repliesOf(app, ["k1"]);
    expect(outcomeOf(replies.get("k1"))).toEqual({ resolved: true, value: { approved: "after the crash" } });
    // The step was interrupted, so the restarted process ran it again, with the same id.
    expect(child.events.filter((e) => e.event === "awakeable").map((e) => e.id)).toEqual([id]);
    expect(await client.call("Approval", "k1", "status")).toMatchObject({ awakeableId: id, finished: 1 });
  }, 180_000);
});
