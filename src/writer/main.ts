/**
 * Runs one writer process. Env: KAFKA_BROKERS, DATABASE_URL (see src/shared/config.ts),
 * WRITER_GROUP_ID (default chat-writer), CHAT_TOPIC_MESSAGES / CHAT_TOPIC_PRESENCE
 * (default chat.messages / chat.presence), WRITER_OPS_HOST (default 127.0.0.1),
 * WRITER_OPS_PORT (default 9400, 0 = any free port), WRITER_CONCURRENCY (default 2),
 * WRITER_FETCH_MIN_BYTES (default 65536), WRITER_FETCH_MAX_WAIT_MS (default 50).
 * SIGTERM/SIGINT: stop consuming, let the in-flight batch finish and commit, exit 0.
 */
import { envInt, envPort, envString, readCommonConfig } from '../shared/config.js';
import { createLogger } from '../shared/logger.js';
import { onShutdown } from '../shared/shutdown.js';
import { topicsFromEnv } from '../shared/topics.js';
import {
  createWriter,
  DEFAULT_WRITER_CONCURRENCY,
  DEFAULT_WRITER_FETCH_MAX_WAIT_MS,
  DEFAULT_WRITER_FETCH_MIN_BYTES,
  DEFAULT_WRITER_GROUP,
} from './index.js';

const logger = createLogger({ name: 'writer' });
const env = process.env;

try {
  const common = readCommonConfig(env);
  const writer = createWriter({
    kafkaBrokers: common.kafkaBrokers,
    databaseUrl: common.databaseUrl,
    groupId: envString(env, 'WRITER_GROUP_ID', DEFAULT_WRITER_GROUP),
    topics: topicsFromEnv(env),
    concurrency: envInt(env, 'WRITER_CONCURRENCY', DEFAULT_WRITER_CONCURRENCY, 1, 64),
    fetchMinBytes: envInt(env, 'WRITER_FETCH_MIN_BYTES', DEFAULT_WRITER_FETCH_MIN_BYTES, 1, 64 * 1024 * 1024),
    fetchMaxWaitMs: envInt(env, 'WRITER_FETCH_MAX_WAIT_MS', DEFAULT_WRITER_FETCH_MAX_WAIT_MS, 1, 10000),
    opsHost: envString(env, 'WRITER_OPS_HOST', '127.0.0.1'),
    opsPort: envPort(env, 'WRITER_OPS_PORT', 9400),
    logger,
    onFatal: (err) => {
      logger.error({ err }, 'writer cannot continue');
      process.exit(1);
    },
  });
  onShutdown(logger, () => writer.stop());
  await writer.start();
  process.stdout.write(`writer ready ${writer.opsUrl ?? ''}\n`);
} catch (err) {
  logger.error({ err }, 'writer failed to start');
  process.stderr.write(`writer: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
