import { KvoError } from "../../sdk/errors.js";

/** The invocation ended with a failure; `code` and message are the ones the runtime recorded. */
export class InvocationFailedError extends KvoError {
  constructor(
    readonly invocationId: string,
    code: string,
    message: string,
  ) {
    super(message, { code, retryable: false });
  }
}

/** No reply arrived in time. The invocation may still run: it is durable once sent. */
export class ReplyTimeoutError extends KvoError {
  constructor(message: string) {
    super(message, { code: "reply_timeout", retryable: true });
  }
}
