/** Reconnect delays: exponential backoff with full jitter, so a crowd of clients spreads out. */

/** Options of {@link backoffDelay}. */
export interface BackoffOptions {
  /** First delay ceiling in ms. Default 200. */
  initialDelayMs?: number;
  /** Largest delay ceiling in ms. Default 10000. */
  maxDelayMs?: number;
}

/** The delay before attempt `attempt` (0-based): uniform in [0, min(max, initial * 2^attempt)]. */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  const initial = options.initialDelayMs ?? 200;
  const max = options.maxDelayMs ?? 10000;
  const ceiling = Math.min(max, initial * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}
