/**
 * The runtime side of the calls benchmark, run as its own process (as a deployment would):
 * hosts `Caller` and `Callee` (handlers.ts). Prints {"event":"ready"} once started; a "stats"
 * line on stdin → {"event":"stats", ...runtime.stats()}.
 */
import { createInterface } from "node:readline";
import { createRuntime } from "../../../index.js";
import { callee, caller } from "./handlers.js";

const runtime = createRuntime({
  app: process.env.KVO_APP!,
  objects: [caller, callee],
  partitions: Number(process.env.KVO_PARTITIONS ?? 4),
  kafka: { brokers: process.env.KVO_BOOTSTRAP_SERVERS!.split(","), instanceId: "bench-calls-0" },
});
await runtime.start();
createInterface({ input: process.stdin }).on("line", (line) => {
  if (line.trim() === "stats") process.stdout.write(JSON.stringify({ event: "stats", ...runtime.stats() }) + "\n");
});
process.on("SIGTERM", () => void runtime.stop().then(() => process.exit(0)));
process.stdout.write(JSON.stringify({ event: "ready" }) + "\n");
