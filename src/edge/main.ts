/**
 * Runs one chat server from environment variables (see readEdgeEnv). Prints
 * `edge ready <id> <wsUrl>` when it accepts connections. SIGTERM/SIGINT drain it (sockets closed
 * with 1012 in waves, draining in ZooKeeper, producer flushed) and exit 0 within 10 s.
 */
import { ChatBackendError } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import { onShutdown } from '../shared/shutdown.js';
import { readEdgeEnv } from './config.js';
import { createEdgeServer } from './server.js';

const logger = createLogger({ name: 'edge' });

let server: ReturnType<typeof createEdgeServer>;
try {
  server = createEdgeServer({ ...readEdgeEnv(), logger });
} catch (err) {
  if (ChatBackendError.is(err, 'CHAT_ERR_CONFIG')) {
    console.error(`edge: ${err.message}`);
    process.exit(2);
  }
  throw err;
}

// Within 10 s even if draining hangs (a supervisor's kill timeout is usually 10 s).
onShutdown(logger, () => server.close(), { hardStopMs: 9500 });

try {
  await server.start();
  console.log(`edge ready ${server.id} ${server.wsUrl}`);
} catch (err) {
  logger.error({ err }, 'start-up failed');
  console.error(`edge: start-up failed: ${err instanceof Error ? err.message : String(err)}`);
  await server.close().catch(() => {});
  process.exit(1);
}
