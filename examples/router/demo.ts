/**
 * `npm run demo -- router`: an upstream system (a plain Kafka producer) writes JSON orders to
 * `orders`, re-sending some; a subscription hands each to its Customer object, which drops
 * the duplicates, keeps per-customer totals in order and routes each order to its region's
 * topic. The demo reads the region topics as a downstream consumer would (read_committed) and
 * checks everything against the stream it sent.
 */
import { connectClient, createRuntime, subscribe } from "../../index.js";
import { demoEnvironment, uniqueAppName } from "../shared/environment.js";
import { produceAll } from "../shared/plain_kafka.js";
import { appTopics, deleteTopicsQuietly, recreateTopics } from "../shared/topics.js";
import { waitForSubscription } from "../shared/wait_for_subscription.js";
import { customer } from "./customer.js";
import { checkCustomers, checkRegions } from "./check.js";
import { ORDERS_TOPIC, REGIONS, regionTopic, simulateOrders } from "./orders.js";

const CUSTOMERS = 200;
const ORDERS_PER_CUSTOMER = 10;
const PARTITIONS = 6;
const SUBSCRIPTION = "orders";

export async function main(): Promise<void> {
  const { brokers } = await demoEnvironment();
  await recreateTopics(brokers, [
    { topic: ORDERS_TOPIC, partitions: PARTITIONS },
    ...REGIONS.map((r) => ({ topic: regionTopic(r), partitions: 3 })),
  ]);
  const app = uniqueAppName("router");
  const runtime = createRuntime({
    app,
    partitions: PARTITIONS,
    objects: [customer],
    subscriptions: [subscribe({ topic: ORDERS_TOPIC, to: [customer, "place"], key: { field: "customerId" }, name: SUBSCRIPTION })],
    kafka: { brokers, instanceId: "router-demo" },
  });
  await runtime.start();
  const problems: string[] = [];
  try {
    const { sent, unique } = simulateOrders({ customers: CUSTOMERS, ordersPerCustomer: ORDERS_PER_CUSTOMER, duplicateRate: 0.1, seed: 8 });
    let started = Date.now();
    // Keyed by customer, so that a customer's orders stay in order on one partition.
    await produceAll(
      brokers,
      ORDERS_TOPIC,
      sent.map((o) => ({ key: o.customerId, value: JSON.stringify(o) })),
    );
    console.log(
      `app ${app}: upstream sent ${sent.length} JSON orders (${unique.length} distinct, ${sent.length - unique.length} re-sent) → ${ORDERS_TOPIC} (${seconds(started)})`,
    );

    started = Date.now();
    await waitForSubscription(runtime, SUBSCRIPTION, sent.length);
    console.log(`runtime: ${sent.length} records → Customer.place invocations, all completed (${seconds(started)})`);

    problems.push(...(await checkRegions(brokers, unique)));
    const client = await connectClient({ app, brokers });
    problems.push(...(await checkCustomers(client, sent, unique).finally(() => client.close())));
    const shown = problems.slice(0, 5).concat(problems.length > 5 ? [`... and ${problems.length - 5} more`] : []);
    console.log(`matches upstream: ${problems.length === 0 ? "yes" : `NO\n  ${shown.join("\n  ")}`}`);
  } finally {
    await runtime.stop();
  }
  // A failed run keeps the app's topics (invocations, changelog, DLQ) for inspection.
  if (problems.length > 0)
    throw new Error(`the router's output does not match the upstream; the topics of app ${app} are kept for inspection`);
  await deleteTopicsQuietly(brokers, appTopics(app, runtime.topics));
}

function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}
