/**
 * How every service process stops: on the first SIGINT or SIGTERM it logs, runs `close` once and
 * exits 0 (1 when close throws). A second signal is ignored while closing. With `hardStopMs`, a
 * close that hangs longer than that exits 1 so a supervisor's kill timeout is never reached.
 */
import type { Logger } from './logger.js';

/** Options of {@link onShutdown}. */
export interface ShutdownOptions {
  /** Exit 1 if closing takes longer than this, ms. Default: wait as long as close takes. */
  hardStopMs?: number;
  /** Signals handled. Default SIGINT and SIGTERM. */
  signals?: NodeJS.Signals[];
  /** Exits the process (tests replace it). Default process.exit. */
  exit?: (code: number) => void;
}

/** Installs the signal handlers; returns a function that starts the same shutdown by hand. */
export function onShutdown(
  logger: Logger,
  close: () => Promise<void>,
  options: ShutdownOptions = {},
): (reason: string) => void {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let stopping = false;
  const shutdown = (reason: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal: reason }, 'shutting down');
    if (options.hardStopMs !== undefined) {
      setTimeout(() => {
        logger.error(`shutdown took longer than ${options.hardStopMs} ms; exiting`);
        exit(1);
      }, options.hardStopMs).unref();
    }
    close().then(
      () => exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        exit(1);
      },
    );
  };
  for (const signal of options.signals ?? ['SIGINT', 'SIGTERM']) process.on(signal, () => shutdown(signal));
  return shutdown;
}
