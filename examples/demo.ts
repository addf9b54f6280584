/**
 * `npm run demo [-- <name>]`: runs one of the demos against the local services (started when
 * they are not running). Each demo is loaded only when chosen, and the process exits when it
 * is done (Kafka clients may leave timers behind): 0 on success, 1 on failure.
 */
const DEMOS: Record<string, { about: string; load: () => Promise<{ main: () => Promise<void> }> }> = {
  "device-twin": {
    about: "Device twins: alarm tickets, and a heartbeat (delayed self-send) that marks a silent device offline (default)",
    load: () => import("./device-twin/demo.js"),
  },
  factory: {
    about: "a gateway's Avro readings → Device twins with alert rules → Avro alerts (subscriptions)",
    load: () => import("./factory/demo.js"),
  },
  router: {
    about: "JSON orders → per-customer dedup, in-order totals and routing by region (replaces a RabbitMQ router)",
    load: () => import("./router/demo.js"),
  },
  saga: {
    about: "an order workflow: approval → payment → shipping, refunded when shipping fails (calls, durable promises)",
    load: () => import("./saga/demo.js"),
  },
};

const name = process.argv[2] ?? "device-twin";
const demo = DEMOS[name];
if (demo === undefined) {
  console.error(`unknown demo "${name}"; run one of:`);
  for (const [n, d] of Object.entries(DEMOS)) console.error(`  npm run demo -- ${n.padEnd(12)} ${d.about}`);
  process.exit(2);
}
try {
  await (await demo.load()).main();
  process.exit(0);
} catch (error) {
  console.error(`demo ${name} failed:`, error);
  process.exit(1);
}
