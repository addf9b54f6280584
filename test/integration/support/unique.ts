/**
 * Unique Kafka topic / consumer group / transactional id / Redis key names, one set per test,
 * so tests never see each other's records even on a shared, long-lived broker.
 * Names carry the test's name (sanitised) for readable broker logs.
 */
import { randomBytes } from "node:crypto";
import { expect } from "vitest";

let counter = 0;

function slug(text: string | undefined, max = 40): string {
  const s = (text ?? "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
  return s.slice(0, max).replace(/-+$/, "") || "test";
}

/** `<prefix>.<test-name>.<time>-<random>-<n>`; valid as a Kafka topic, group or transactional id. */
export function uniqueName(prefix = "kvo-it", label?: string): string {
  let testName: string | undefined;
  try {
    testName = expect.getState().currentTestName;
  } catch {
    testName = undefined;
  }
  const id = `${Date.now().toString(36)}-${randomBytes(4).toString("hex")}-${++counter}`;
  return `${slug(prefix, 30)}.${slug(label ?? testName)}.${id}`;
}

export const uniqueTopic = (label?: string): string => uniqueName("kvo-it-topic", label);
export const uniqueGroup = (label?: string): string => uniqueName("kvo-it-group", label);
export const uniqueTransactionalId = (label?: string): string => uniqueName("kvo-it-txn", label);
export const uniqueKey = (label?: string): string => uniqueName("kvo-it-key", label);
