/**
 * Discovery configuration from environment variables, validated at start-up with one-line
 * errors that name the variable.
 */
import { COMMON_DEFAULTS, type Env, envHostPorts, envInt, envPort, envString } from '../shared/config.js';
import { ChatBackendError } from '../shared/errors.js';
import { zkBasePathFromEnv } from '../shared/registry.js';
import { topicsFromEnv } from '../shared/topics.js';
import { DEFAULT_DISCOVERY_PORT, type DiscoveryServerOptions } from './server.js';

/** The options main.ts passes to createDiscoveryServer. */
export type DiscoveryConfig = Required<
  Pick<
    DiscoveryServerOptions,
    | 'host'
    | 'port'
    | 'zookeeperConnect'
    | 'basePath'
    | 'sessionTimeoutMs'
    | 'kafkaBrokers'
    | 'topics'
    | 'corsOrigins'
    | 'http2IdleTimeoutMs'
  >
>;

/**
 * Reads DISCOVERY_HOST (default 127.0.0.1), DISCOVERY_PORT (50051), ZOOKEEPER_CONNECT
 * (127.0.0.1:2181), CHAT_ZK_BASE_PATH (/chat/servers), ZOOKEEPER_SESSION_TIMEOUT_MS (6000, 1000..60000), KAFKA_BROKERS
 * (127.0.0.1:9092), CHAT_TOPIC_MESSAGES/CHAT_TOPIC_PRESENCE (see topicsFromEnv) and
 * DISCOVERY_CORS_ORIGINS (comma-separated origins or *, default *) and
 * DISCOVERY_HTTP2_IDLE_TIMEOUT_MS (300000; 0 = never).
 */
export function readDiscoveryConfig(env: Env = process.env): DiscoveryConfig {
  const host = envString(env, 'DISCOVERY_HOST', '127.0.0.1');
  if (/\s|\//.test(host)) {
    throw new ChatBackendError(
      'CHAT_ERR_CONFIG',
      `DISCOVERY_HOST: expected a host name or address, got "${host}"`,
    );
  }
  const corsOrigins = envString(env, 'DISCOVERY_CORS_ORIGINS', '*')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const origin of corsOrigins) {
    if (origin !== '*' && !/^https?:\/\/[^/\s]+$/.test(origin)) {
      throw new ChatBackendError(
        'CHAT_ERR_CONFIG',
        `DISCOVERY_CORS_ORIGINS: expected * or origins like http://host:port, got "${origin}"`,
      );
    }
  }
  return {
    host,
    port: envPort(env, 'DISCOVERY_PORT', DEFAULT_DISCOVERY_PORT),
    zookeeperConnect: envHostPorts(env, 'ZOOKEEPER_CONNECT', COMMON_DEFAULTS.zookeeperConnect).join(','),
    basePath: zkBasePathFromEnv(env),
    sessionTimeoutMs: envInt(env, 'ZOOKEEPER_SESSION_TIMEOUT_MS', 6000, 1000, 60000),
    kafkaBrokers: envHostPorts(env, 'KAFKA_BROKERS', COMMON_DEFAULTS.kafkaBrokers),
    topics: topicsFromEnv(env),
    corsOrigins,
    http2IdleTimeoutMs: envInt(env, 'DISCOVERY_HTTP2_IDLE_TIMEOUT_MS', 300_000, 0, 86_400_000),
  };
}
