/**
 * Waits until a subscription has turned every record the upstream sent into an invocation and
 * the runtime has completed them all, printing progress every few seconds.
 */
import type { Runtime } from "../../index.js";

const PROGRESS_EVERY_MS = 3_000;

export async function waitForSubscription(runtime: Runtime, name: string, sent: number, timeoutMs = 60_000): Promise<void> {
  const started = Date.now();
  let nextProgress = started + PROGRESS_EVERY_MS;
  for (;;) {
    const stats = runtime.stats();
    const subscription = stats.subscriptions.find((s) => s.name === name);
    if (subscription === undefined) throw new Error(`runtime.stats() has no subscription named "${name}"`);
    const handled = subscription.relayed + subscription.filtered + subscription.deadLettered + subscription.skippedDuplicates;
    const finished = stats.completed + stats.failed;
    if (handled >= sent && finished >= subscription.relayed && stats.inFlight === 0) return;
    const now = Date.now();
    if (now - started > timeoutMs) {
      throw new Error(
        `subscription "${name}" not done after ${timeoutMs / 1000} s: ${handled} of ${sent} records handled, ` +
          `${finished} of ${subscription.relayed} invocations finished (state ${subscription.state})`,
      );
    }
    if (now >= nextProgress) {
      console.log(`  ... ${subscription.relayed}/${sent} relayed, ${finished} invocations finished`);
      nextProgress = now + PROGRESS_EVERY_MS;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
