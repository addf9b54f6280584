/**
 * `npm run demo -- factory`: a factory gateway (a plain Kafka producer) sends Avro readings of
 * 300 devices to `factory.readings`; a subscription feeds them to the Device twins, whose rules
 * emit Avro alerts to `factory.alerts`. The demo reads the alerts as any downstream consumer
 * would (read_committed, decoded through the Schema Registry), checks them against the rules
 * applied in-process, and asks a few twins for their state with the typed client.
 */
import { avro, connectClient, createRuntime, subscribe } from "../../index.js";
import { createAvroPayloads } from "../../connectors/schema_registry/index.js";
import { demoEnvironment, uniqueAppName } from "../shared/environment.js";
import { readCommitted } from "../shared/plain_kafka.js";
import { appTopics, deleteTopicsQuietly, recreateTopics } from "../shared/topics.js";
import { waitForSubscription } from "../shared/wait_for_subscription.js";
import { device } from "./device.js";
import { runGateway } from "./gateway.js";
import { compareAlerts, runModel } from "./model.js";
import { simulatePlant } from "./plant.js";
import { RULES } from "./rules.js";
import { printAlerts, printTwins } from "./report.js";
import { ALERTS_TOPIC, READINGS_TOPIC, type Alert } from "./schemas.js";

const DEVICES = 300;
const READINGS_PER_DEVICE = 20;
const PARTITIONS = 6;
const SUBSCRIPTION = "readings";

export async function main(): Promise<void> {
  const { brokers, schemaRegistryUrl } = await demoEnvironment();
  await recreateTopics(brokers, [
    { topic: READINGS_TOPIC, partitions: PARTITIONS },
    { topic: ALERTS_TOPIC, partitions: PARTITIONS },
  ]);
  const app = uniqueAppName("factory");
  const runtime = createRuntime({
    app,
    partitions: PARTITIONS,
    objects: [device],
    subscriptions: [subscribe({ topic: READINGS_TOPIC, to: [device, "report"], value: avro(), name: SUBSCRIPTION })],
    kafka: { brokers, instanceId: "factory-demo" },
    schemaRegistry: { url: schemaRegistryUrl },
  });
  await runtime.start();
  let passed = false;
  try {
    const readings = simulatePlant({ devices: DEVICES, readingsPerDevice: READINGS_PER_DEVICE, seed: 8 });
    console.log(`app ${app}: ${DEVICES} devices × ${READINGS_PER_DEVICE} readings, rules: ${describeRules()}`);
    let started = Date.now();
    await runGateway(brokers, schemaRegistryUrl, readings);
    console.log(`gateway: ${readings.length} Avro records → ${READINGS_TOPIC} (${seconds(started)})`);

    started = Date.now();
    await waitForSubscription(runtime, SUBSCRIPTION, readings.length);
    console.log(`runtime: ${readings.length} records → ${readings.length} Device.report invocations, all completed (${seconds(started)})`);

    const model = runModel(readings);
    const expected = [...model.values()].reduce((n, d) => n + d.alerts.length, 0);
    const alerts = await readAlerts(brokers, schemaRegistryUrl, expected);
    printAlerts(alerts);
    const comparison = compareAlerts(model, alerts);
    console.log(`matches model: ${comparison.equal ? "yes" : `NO (${comparison.difference})`}`);

    const client = await connectClient({ app, brokers });
    const differing = await printTwins(client, model).finally(() => client.close());
    if (differing.length > 0) console.log(`twins whose state differs from the model: ${differing.join(", ")}`);
    const [stats] = runtime.stats().subscriptions;
    if (stats !== undefined) {
      console.log(
        `subscription ${stats.name}: relayed ${stats.relayed}, dead-lettered ${stats.deadLettered}, ` +
          `duplicates skipped ${stats.skippedDuplicates}, lag ${stats.partitions.reduce((n, p) => n + (p.lag ?? 0), 0)}`,
      );
    }
    passed = comparison.equal && differing.length === 0;
  } finally {
    await runtime.stop();
  }
  // A failed run keeps the app's topics (invocations, changelog, DLQ) for inspection.
  if (passed) await deleteTopicsQuietly(brokers, appTopics(app, runtime.topics));
  else throw new Error(`the alerts or twins do not match the model; the topics of app ${app} are kept for inspection`);
}

async function readAlerts(brokers: string[], schemaRegistryUrl: string, expected: number): Promise<Alert[]> {
  const codec = createAvroPayloads({ url: schemaRegistryUrl });
  const records = await readCommitted(brokers, ALERTS_TOPIC, { expected });
  const alerts = await Promise.all(records.map(async (r) => (await codec.decode(r.value)).value as Alert));
  // Kafka orders records per partition only; a device's alerts are in one partition, in order.
  return alerts.sort((a, b) => a.ts - b.ts || a.deviceId.localeCompare(b.deviceId));
}

function describeRules(): string {
  return (
    `OVERHEAT above ${RULES.highC}°C (cleared below ${RULES.lowC}°C), RAPID_RISE above +${RULES.riseC}°C over ${RULES.window} readings, ` +
    `MAINTENANCE_DUE after ${RULES.maintenanceAfter} readings`
  );
}

function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}
