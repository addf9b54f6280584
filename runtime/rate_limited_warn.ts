import type { Clock, Logger } from "./support.js";

/**
 * Logs at most `perWindow` warnings per window and then one summary line, so that a flood of
 * bad records (each one is recorded in the DLQ anyway) cannot flood the logs.
 */
export class RateLimitedWarn {
  private windowStart = 0;
  private logged = 0;
  private suppressed = 0;

  constructor(
    private readonly logger: Logger,
    private readonly clock: Clock,
    private readonly what: string,
    private readonly perWindow = 10,
    private readonly windowMs = 60_000,
  ) {}

  warn(message: string): void {
    const now = this.clock.now();
    if (now - this.windowStart >= this.windowMs) {
      if (this.suppressed > 0)
        this.logger.warn(`${this.suppressed} more ${this.what} not logged in the last ${Math.round(this.windowMs / 1000)} s (see the DLQ)`);
      this.windowStart = now;
      this.logged = 0;
      this.suppressed = 0;
    }
    if (this.logged < this.perWindow) {
      this.logged++;
      this.logger.warn(message);
    } else {
      this.suppressed++;
    }
  }
}
