/** Time source and timers; injectable so in-memory tests control time. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Default logger: warnings and errors to stderr, quiet otherwise. KVO_LOG=debug|info widens it. */
export function consoleLogger(prefix = "kvo"): Logger {
  const level = process.env.KVO_LOG ?? "warn";
  const rank: Record<string, number> = { debug: 0, info: 1, warn: 2, error: 3, silent: 4 };
  const min = rank[level] ?? 2;
  const at = (lvl: string, fn: (m: string) => void) => (message: string) => {
    if ((rank[lvl] ?? 0) >= min) fn(`[${prefix}] ${lvl}: ${message}`);
  };
  return {
    debug: at("debug", console.debug),
    info: at("info", console.info),
    warn: at("warn", console.warn),
    error: at("error", console.error),
  };
}
