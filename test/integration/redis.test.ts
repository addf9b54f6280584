/**
 * Redis (real server, never mocked) answers PING, SET and GET through ioredis.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { redisUrl } from "./support/endpoints.js";
import { uniqueKey } from "./support/unique.js";

let redis: Redis;

beforeAll(async () => {
  redis = new Redis(redisUrl(), { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
});

afterAll(async () => {
  await redis.quit();
});

describe("Redis", () => {
  it("answers PING", async () => {
    expect(await redis.ping()).toBe("PONG");
  });

  it("stores and returns a value (SET/GET), and expires it", async () => {
    const key = uniqueKey();
    const value = JSON.stringify({ offset: 42, state: { temp: 81.5 } });
    expect(await redis.set(key, value, "EX", 60)).toBe("OK");
    expect(await redis.get(key)).toBe(value);
    const ttl = await redis.ttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60);
    expect(await redis.del(key)).toBe(1);
    expect(await redis.get(key)).toBeNull();
  });
});
