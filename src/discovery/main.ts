/** The discovery process: reads its environment, serves until SIGINT/SIGTERM. */
import { ChatBackendError } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import { onShutdown } from '../shared/shutdown.js';
import { readDiscoveryConfig } from './config.js';
import { createDiscoveryServer } from './server.js';

const log = createLogger({ name: 'discovery' });

let config: ReturnType<typeof readDiscoveryConfig>;
try {
  config = readDiscoveryConfig();
} catch (err) {
  if (!ChatBackendError.is(err, 'CHAT_ERR_CONFIG')) throw err;
  console.error(`discovery: ${err.message}`);
  process.exit(2);
}

const server = createDiscoveryServer({ ...config, logger: log });
onShutdown(log, () => server.close());

try {
  await server.start();
} catch (err) {
  log.error({ err }, 'discovery failed to start');
  await server.close().catch(() => {});
  process.exit(1);
}
console.log(`discovery ready ${server.url}`);
