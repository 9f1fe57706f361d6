/**
 * Runs one chat server from environment variables (see readEdgeEnv). Prints
 * `edge ready <id> <wsUrl>` when it accepts connections. SIGTERM/SIGINT drain it (sockets closed
 * with 1012 in waves, draining in ZooKeeper, producer flushed) and exit 0 within 10 s.
 */
import { ChatBackendError } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
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

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'shutting down');
  const hardStop = setTimeout(() => {
    logger.error('shutdown took longer than 9.5 s; exiting');
    process.exit(1);
  }, 9500);
  hardStop.unref();
  try {
    await server.close();
    process.exit(0);
  } catch (err) {
    logger.error({ err }, 'shutdown failed');
    process.exit(1);
  }
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

try {
  await server.start();
  console.log(`edge ready ${server.id} ${server.wsUrl}`);
} catch (err) {
  logger.error({ err }, 'start-up failed');
  console.error(`edge: start-up failed: ${err instanceof Error ? err.message : String(err)}`);
  await server.close().catch(() => {});
  process.exit(1);
}
