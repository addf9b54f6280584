/**
 * `npm run demo` (the default of examples/demo.ts): starts the services if they are not
 * running (same code as infra:up), runs a KVO runtime hosting the Device twin and drives three
 * devices over Kafka with the typed client: a temperature episode (alarm tickets), then one
 * device goes silent until its heartbeat marks it offline (one offline ticket), then it
 * reports again and is back online. Prints each twin's final state.
 */
import { connectClient, createRuntime, type KvoClient } from "../../index.js";
import { demoEnvironment, uniqueAppName } from "../shared/environment.js";
import { appTopics, deleteTopicsQuietly } from "../shared/topics.js";
import { device, tickets } from "./twin.js";

const DEVICES = ["press-1", "press-2", "oven-7"] as const;
/** The device that stops reporting. */
const SILENT = "press-2";
const HEARTBEAT_MS = 3_000;
/** How often the other devices report while SILENT is silent. */
const REPORT_EVERY_MS = 1_000;
/** Longest the demo waits for SILENT to be marked offline (the check is due after HEARTBEAT_MS). */
const OFFLINE_WITHIN_MS = HEARTBEAT_MS + 10_000;

export async function main(): Promise<void> {
  const { brokers } = await demoEnvironment();
  const app = uniqueAppName("demo-twins");
  const runtime = createRuntime({ app, objects: [device], partitions: 4, kafka: { brokers, instanceId: "demo-0" } });
  await runtime.start();
  const client = await connectClient({ app, brokers });
  try {
    console.log(`app ${app}: devices ${DEVICES.join(", ")}, heartbeat ${HEARTBEAT_MS / 1000} s`);
    for (const d of DEVICES) await client.object(device, d).configure({ limit: d === "oven-7" ? 220 : 80, heartbeatMs: HEARTBEAT_MS });

    console.log("a temperature episode, one reading per device each step:");
    const temps = [70, 78, 85, 91, 88, 79, 72, 95];
    for (const [i, temp] of temps.entries()) {
      const results = await Promise.all(DEVICES.map((d) => report(client, d, d === "oven-7" ? temp * 2.5 : temp)));
      console.log(`  step ${i}  ${DEVICES.map((d, j) => `${d}=${results[j]!.status}`).join("  ")}`);
    }

    console.log(`${SILENT} stops reporting; the others report every ${REPORT_EVERY_MS / 1000} s:`);
    const silentSince = Date.now();
    for (;;) {
      await sleep(REPORT_EVERY_MS);
      await Promise.all(DEVICES.filter((d) => d !== SILENT).map((d) => report(client, d, 75)));
      const twin = await client.object(device, SILENT).status();
      const after = `${((Date.now() - silentSince) / 1000).toFixed(1)} s`;
      if (!twin.online) {
        console.log(`  after ${after}: ${SILENT} is offline, ticket ${twin.offlineTicket} opened`);
        break;
      }
      console.log(`  after ${after}: ${SILENT} still online`);
      if (Date.now() - silentSince > OFFLINE_WITHIN_MS) {
        throw new Error(`${SILENT} was not marked offline within ${OFFLINE_WITHIN_MS / 1000} s of its last reading`);
      }
    }
    const back = await report(client, SILENT, 74);
    console.log(`${SILENT} reports again: ${back.backOnline ? "back online" : "NOT marked back online"}, status ${back.status}`);

    console.log("final states:");
    for (const d of DEVICES) console.log(`  ${JSON.stringify(await client.object(device, d).status())}`);
    console.log(`tickets opened:\n  ${tickets.opened.join("\n  ")}`);
    console.log(`runtime: ${JSON.stringify(runtime.stats())}`);
  } finally {
    await client.close();
    await runtime.stop();
  }
  await deleteTopicsQuietly(brokers, appTopics(app, runtime.topics));
}

function report(client: KvoClient, d: string, temp: number) {
  return client.object(device, d).report({ temp, at: new Date().toISOString().slice(11, 23) });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
