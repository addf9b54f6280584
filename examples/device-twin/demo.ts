/**
 * `npm run demo` (the default of examples/demo.ts): starts the services if they are not
 * running (same code as infra:up), runs a KVO runtime hosting the Device twin, drives three
 * devices through a temperature episode over Kafka with the typed client, and prints each
 * twin's final state.
 */
import { ensureInfra } from "../../compose/infra/infra.js";
import { connectClient, createRuntime } from "../../index.js";
import { device, tickets } from "./twin.js";

export async function main(): Promise<void> {
  const endpoints = await ensureInfra({ log: (line) => console.log(`[infra] ${line}`) });
  const brokers = endpoints.bootstrapServers.split(",");
  const app = `demo-twins-${Date.now().toString(36)}`;

  const runtime = createRuntime({ app, objects: [device], partitions: 4, kafka: { brokers, instanceId: "demo-0" } });
  await runtime.start();
  const client = await connectClient({ app, brokers });
  try {
    const devices = ["press-1", "press-2", "oven-7"];
    await client.object(device, "oven-7").configure({ limit: 220 });
    const temps = [70, 78, 85, 91, 88, 79, 72, 95];
    for (const [i, temp] of temps.entries()) {
      const at = new Date(Date.UTC(2026, 10, 25, 8, i)).toISOString();
      const results = await Promise.all(
        devices.map((d) => client.object(device, d).report({ temp: d === "oven-7" ? temp * 2.5 : temp, at })),
      );
      console.log(`t+${i}m  ${devices.map((d, j) => `${d}=${results[j]!.status}`).join("  ")}`);
    }
    for (const d of devices) console.log(JSON.stringify(await client.object(device, d).status()));
    console.log(`tickets opened: ${tickets.opened.join(", ")}`);
    console.log(`runtime: ${JSON.stringify(runtime.stats())}`);
  } finally {
    await client.close();
    await runtime.stop();
  }
}
