/**
 * `npm run demo -- saga`: four orders through the Order workflow (approval → payment →
 * shipping, refund when shipping fails), over Kafka with the typed client: one ships, one
 * cannot be shipped and is refunded, one waits for an approval that comes, one for an
 * approval that does not (it expires). Then one order is submitted again and gets the first
 * run's outcome without charging twice. Checks every outcome against what it expects.
 */
import { connectClient, createRuntime, type KvoClient } from "../../index.js";
import { demoEnvironment, uniqueAppName } from "../shared/environment.js";
import { appTopics, deleteTopicsQuietly } from "../shared/topics.js";
import { APPROVAL_FROM_CENTS, APPROVAL_TIMEOUT_MS, orderWorkflow, type Order, type OrderOutcome } from "./order.js";
import { euros, gateway, payment } from "./payment.js";
import { shipping } from "./shipping.js";

const ORDERS: { id: string; order: Order; expect: OrderOutcome["status"] }[] = [
  { id: "o-1", order: { customer: "ada", amountCents: 4_000, region: "eu" }, expect: "shipped" },
  { id: "o-2", order: { customer: "bob", amountCents: 2_500, region: "mars" }, expect: "refunded" },
  { id: "o-3", order: { customer: "cyd", amountCents: 90_000, region: "us" }, expect: "shipped" },
  { id: "o-4", order: { customer: "eve", amountCents: 120_000, region: "eu" }, expect: "expired" },
];
/** The large order someone approves; the other one expires. */
const APPROVED = "o-3";
const APPROVER = "dana";

export async function main(): Promise<void> {
  const { brokers } = await demoEnvironment();
  const app = uniqueAppName("saga");
  const runtime = createRuntime({
    app,
    partitions: 4,
    objects: [orderWorkflow, payment],
    services: [shipping],
    kafka: { brokers, instanceId: "saga-demo" },
  });
  await runtime.start();
  const client = await connectClient({ app, brokers });
  const problems: string[] = [];
  try {
    console.log(
      `app ${app}: ${ORDERS.length} orders; approval needed from ${euros(APPROVAL_FROM_CENTS)}, expires after ${APPROVAL_TIMEOUT_MS / 1000} s`,
    );
    const started = Date.now();
    const runs = ORDERS.map(({ id, order, expect }) =>
      client
        .object(orderWorkflow, id)
        .run(order)
        .then((outcome) => {
          console.log(`  ${id} ${describe(order)} → ${summary(outcome)} (${seconds(started)})`);
          if (outcome.status !== expect) problems.push(`${id}: ${outcome.status}, expected ${expect}`);
          return outcome;
        }),
    );

    await sleep(1_000);
    // A run's own state writes apply when it ends, so while it waits `status` says "running";
    // the approval promise (null: not resolved yet) is visible at once.
    console.log(`  ${APPROVED} while it waits: ${JSON.stringify(await client.object(orderWorkflow, APPROVED).status())}`);
    await client.object(orderWorkflow, APPROVED).approve({ by: APPROVER });
    console.log(`  ${APPROVER} approves ${APPROVED} (${seconds(started)})`);
    const outcomes = await Promise.all(runs);

    const again = ORDERS[0]!;
    const second = await client.object(orderWorkflow, again.id).run(again.order);
    const same = JSON.stringify(second) === JSON.stringify(outcomes[0]);
    if (!same) problems.push(`${again.id} submitted again returned ${JSON.stringify(second)}, not the first outcome`);
    console.log(`${again.id} submitted again → ${summary(second)}: ${same ? "the first run's outcome" : "DIFFERENT"}`);

    await report(client);
    const charges = gateway.charges.filter((c) => c.startsWith(`ch-${again.id} `)).length;
    if (charges !== 1) problems.push(`${again.id} was charged ${charges} times`);
    if (gateway.refunds.length !== 1) problems.push(`${gateway.refunds.length} refunds, expected 1 (o-2)`);
    console.log(`as expected: ${problems.length === 0 ? "yes" : `NO\n  ${problems.join("\n  ")}`}`);
  } finally {
    await client.close();
    await runtime.stop();
  }
  if (problems.length > 0) throw new Error(`the saga demo did not end as expected; the topics of app ${app} are kept for inspection`);
  await deleteTopicsQuietly(brokers, appTopics(app, runtime.topics));
}

/** Every order's workflow status and payment, and what the payment gateway saw. */
async function report(client: KvoClient): Promise<void> {
  console.log("Order.status and Payment.get:");
  for (const { id } of ORDERS) {
    const [status, paid] = await Promise.all([client.object(orderWorkflow, id).status(), client.object(payment, id).get()]);
    console.log(`  ${JSON.stringify(status)}\n    payment ${JSON.stringify(paid)}`);
  }
  console.log(`payment gateway: charges ${gateway.charges.join(", ")}; refunds ${gateway.refunds.join(", ")}`);
}

function describe(order: Order): string {
  return `${order.customer} ${euros(order.amountCents)} to ${order.region}`;
}

function summary(outcome: OrderOutcome): string {
  if (outcome.status === "shipped") return `shipped ${outcome.tracking}${outcome.approvedBy ? ` (approved by ${outcome.approvedBy})` : ""}`;
  return `${outcome.status}: ${outcome.reason}`;
}

function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
