/**
 * Exponential backoff with full jitter for retrying a batch against an unavailable database.
 */

/** Options of {@link Backoff}. */
export interface BackoffOptions {
  /** First delay, in ms. */
  initialMs: number;
  /** Largest delay, in ms. */
  maxMs: number;
  /** Source of randomness in [0, 1); Math.random by default (tests pass a constant). */
  random?: () => number;
}

/** The delays of one retry sequence: initial, 2x, 4x ... capped at maxMs, each jittered to 50-100%. */
export class Backoff {
  #attempt = 0;
  readonly #options: BackoffOptions;

  constructor(options: BackoffOptions) {
    this.#options = options;
  }

  /** How many delays were handed out since the last reset. */
  get attempts(): number {
    return this.#attempt;
  }

  /** The next delay in ms. */
  next(): number {
    const { initialMs, maxMs, random = Math.random } = this.#options;
    const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(this.#attempt, 30));
    this.#attempt += 1;
    // Half fixed, half jitter: several writers retrying the same database spread out, yet a
    // delay never collapses to zero.
    return Math.round(ceiling / 2 + (ceiling / 2) * random());
  }

  /** Starts the sequence over (after a success). */
  reset(): void {
    this.#attempt = 0;
  }
}

/** Resolves after ms, or at once when the signal aborts. Never rejects. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
