/**
 * The records client.resolveAwakeable / rejectAwakeable produce (docs/record-format.md,
 * "Awakeables"), checked on a client whose producer only records what it is given. The
 * round trip through a runtime is test/integration/awakeable-restart.test.ts.
 */
import { describe, expect, it } from "vitest";
import { KvoClient } from "../../connectors/client/kafka_client.js";
import { formatAwakeableId } from "../../runtime/invocation/awakeable_id.js";
import { SerializationError } from "../../sdk/errors.js";

interface Sent {
  topic: string;
  messages: Array<{ key: string; value: string | null; partition?: number; headers: Record<string, string> }>;
}

/** A client (private constructor) that records what it produces; the topic has `partitions` partitions. */
function recordingClient(partitions: number, lookUp: () => Promise<number | null> = async () => partitions) {
  const sent: Sent[] = [];
  let lookUps = 0;
  const producer = { send: async (r: Sent) => void sent.push(r), disconnect: async () => undefined };
  const consumer = { disconnect: async () => undefined };
  const Construct = KvoClient as unknown as new (
    options: object,
    producer: object,
    consumer: object,
    partitions: number | null,
    lookUp: () => Promise<number | null>,
  ) => KvoClient;
  const client = new Construct(
    { app: "m", timeoutMs: 1, replyTopic: "m.replies", invocationsTopic: "m.invocations" },
    producer,
    consumer,
    partitions,
    () => (lookUps++, lookUp()),
  );
  return { client, sent, lookUps: () => lookUps };
}

const id = formatAwakeableId(2, 5, "p2-o17");

describe("client awakeable records", () => {
  it("resolves with the id's partition explicitly, the id as key and header, and the value as JSON", async () => {
    const { client, sent } = recordingClient(4);
    await client.resolveAwakeable(id, { approved: true });
    await client.resolveAwakeable(id);
    expect(sent).toEqual([
      { topic: "m.invocations", messages: [{ key: id, value: '{"approved":true}', partition: 2, headers: { "kvo-awakeable": id } }] },
      { topic: "m.invocations", messages: [{ key: id, value: null, partition: 2, headers: { "kvo-awakeable": id } }] },
    ]);
  });

  it("rejects with kvo-status failed and the message, and the code only when given", async () => {
    const { client, sent } = recordingClient(4);
    await client.rejectAwakeable(id, "denied by ops", "denied");
    await client.rejectAwakeable(id, "no reason");
    expect(sent.map((s) => s.messages[0])).toEqual([
      {
        key: id,
        value: null,
        partition: 2,
        headers: { "kvo-awakeable": id, "kvo-status": "failed", "kvo-error-message": "denied by ops", "kvo-error-code": "denied" },
      },
      { key: id, value: null, partition: 2, headers: { "kvo-awakeable": id, "kvo-status": "failed", "kvo-error-message": "no reason" } },
    ]);
  });

  it("refuses malformed ids, empty messages or codes and unserializable values without producing", async () => {
    const { client, sent } = recordingClient(4);
    for (const bad of ["", "awk.2.5", "awk.2.5.not base64", `awk.02.5.${id.split(".")[3]}`]) {
      await expect(client.resolveAwakeable(bad, 1)).rejects.toMatchObject({
        code: "invalid_awakeable",
        retryable: false,
        message: expect.stringContaining("awk.<partition>.<entry>.<base64url invocation id>") as string,
      });
    }
    await expect(client.rejectAwakeable(id, "")).rejects.toMatchObject({ code: "invalid_awakeable" });
    await expect(client.rejectAwakeable(id, "why", "")).rejects.toMatchObject({ code: "invalid_awakeable" });
    await expect(client.resolveAwakeable(id, { n: 1n })).rejects.toBeInstanceOf(SerializationError);
    expect(sent).toEqual([]);
  });

  it("looks the partition count up again before refusing a partition beyond it", async () => {
    const stale = recordingClient(2, async () => 2);
    await expect(stale.client.resolveAwakeable(id, 1)).rejects.toMatchObject({
      code: "invalid_awakeable",
      message: expect.stringContaining("m.invocations has 2 partitions") as string,
    });
    expect(stale.lookUps()).toBe(1);
    expect(stale.sent).toEqual([]);

    // Partitions were added since connect: the id is fine.
    const grown = recordingClient(2, async () => 8);
    await grown.client.resolveAwakeable(id, 1);
    expect(grown.sent).toHaveLength(1);
    // Within the known count: no look-up.
    const known = recordingClient(4);
    await known.client.resolveAwakeable(id, 1);
    expect(known.lookUps()).toBe(0);
  });
});
