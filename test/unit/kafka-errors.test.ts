/** How connectors/kafka maps librdkafka's transactional errors onto what commit() does. */
import { describe, expect, it } from "vitest";
import { RdCodes, classifyTxnError, type RdError } from "../../connectors/kafka/errors.js";

const err = (code: number, flags: Partial<RdError> = {}, message = "x"): RdError => ({ code, message, ...flags });

describe("classifyTxnError", () => {
  it("a newer producer with the same transactional.id is producer fencing", () => {
    expect(classifyTxnError(err(RdCodes.ERR__FENCED, { isFatal: true }))).toBe("producer-fenced");
    expect(classifyTxnError(err(RdCodes.PRODUCER_FENCED))).toBe("producer-fenced");
    expect(classifyTxnError(err(RdCodes.ERR__FATAL, { isFatal: true }, "Local: This instance has been fenced by a newer instance"))).toBe(
      "producer-fenced",
    );
  });

  it("other fatal errors replace the producer", () => {
    expect(classifyTxnError(err(RdCodes.ERR__FATAL, { isFatal: true }, "Fatal error: unknown producer id"))).toBe("fatal");
  });

  it("a stale group generation in TxnOffsetCommit is group fencing (KIP-447)", () => {
    for (const code of [RdCodes.ILLEGAL_GENERATION, RdCodes.UNKNOWN_MEMBER_ID, RdCodes.FENCED_INSTANCE_ID]) {
      expect(classifyTxnError(err(code, { isTxnRequiresAbort: true }))).toBe("abort-group-fenced");
    }
  });

  it("abortable errors abort and retry; retriable calls are repeated; unknown errors abort", () => {
    expect(classifyTxnError(err(RdCodes.REBALANCE_IN_PROGRESS, { isTxnRequiresAbort: true }))).toBe("abort-retryable");
    expect(classifyTxnError(err(RdCodes.ERR__TIMED_OUT, { isRetriable: true }))).toBe("retry-call");
    expect(classifyTxnError(err(RdCodes.ERR__STATE))).toBe("abort-retryable");
  });
});
