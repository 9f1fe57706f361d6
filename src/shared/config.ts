/**
 * Reading configuration from environment variables. Each reader validates once, at start-up,
 * and throws a CHAT_ERR_CONFIG error whose one-line message names the variable.
 */
import { ChatBackendError } from './errors.js';

/** Where values come from; `process.env` in production, a plain object in tests. */
export type Env = Readonly<Record<string, string | undefined>>;

function configError(name: string, problem: string): ChatBackendError {
  return new ChatBackendError('CHAT_ERR_CONFIG', `${name}: ${problem}`);
}

function raw(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/** A string, or the default when unset or blank. */
export function envString(env: Env, name: string, fallback: string): string {
  return raw(env, name) ?? fallback;
}

/** An optional string: undefined when unset or blank. */
export function envOptional(env: Env, name: string): string | undefined {
  return raw(env, name);
}

/** An integer within [min, max]. */
export function envInt(env: Env, name: string, fallback: number, min: number, max: number): number {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  if (!/^-?\d+$/.test(value)) throw configError(name, `expected an integer, got "${value}"`);
  const n = Number(value);
  if (n < min || n > max) throw configError(name, `expected ${min}..${max}, got ${n}`);
  return n;
}

/** A boolean: 1/true/yes/on or 0/false/no/off. */
export function envBool(env: Env, name: string, fallback: boolean): boolean {
  const value = raw(env, name)?.toLowerCase();
  if (value === undefined) return fallback;
  if (['1', 'true', 'yes', 'on'].includes(value)) return true;
  if (['0', 'false', 'no', 'off'].includes(value)) return false;
  throw configError(name, `expected true or false, got "${value}"`);
}

/** A comma-separated list of host:port pairs. */
export function envHostPorts(env: Env, name: string, fallback: string): string[] {
  const value = raw(env, name) ?? fallback;
  const parts = value.split(',').map((s) => s.trim());
  for (const part of parts) {
    if (!/^[^\s:]+:\d{1,5}$/.test(part) || Number(part.split(':').pop()) > 65535) {
      throw configError(name, `expected host:port[,host:port...], got "${value}"`);
    }
  }
  return parts;
}

/**
 * A string matching `pattern`, or the default when unset or blank; anything else fails with
 * `<name>: <problem> "<value>"`.
 */
export function envMatching(
  env: Env,
  name: string,
  fallback: string,
  pattern: RegExp,
  problem: string,
): string {
  const value = raw(env, name) ?? fallback;
  if (!pattern.test(value)) throw configError(name, `${problem} "${value}"`);
  return value;
}

/** A TCP port, 0 meaning "any free port". */
export function envPort(env: Env, name: string, fallback: number): number {
  return envInt(env, name, fallback, 0, 65535);
}

/** A URL with one of the given protocols. */
export function envUrl(env: Env, name: string, fallback: string, protocols: readonly string[]): string {
  const value = raw(env, name) ?? fallback;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw configError(name, `expected a URL, got "${value}"`);
  }
  if (!protocols.includes(url.protocol)) {
    throw configError(name, `expected a ${protocols.join(' or ')} URL, got "${url.protocol}"`);
  }
  return value;
}

/** The connection settings every service shares. */
export interface CommonConfig {
  /** ZooKeeper connect string. Env ZOOKEEPER_CONNECT, default 127.0.0.1:2181. */
  zookeeperConnect: string;
  /** Kafka bootstrap brokers. Env KAFKA_BROKERS, default 127.0.0.1:9092. */
  kafkaBrokers: string[];
  /** PostgreSQL URL. Env DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test. */
  databaseUrl: string;
}

/** The defaults of {@link CommonConfig}, for loopback development. */
export const COMMON_DEFAULTS = {
  zookeeperConnect: '127.0.0.1:2181',
  kafkaBrokers: '127.0.0.1:9092',
  databaseUrl: 'postgres://postgres@127.0.0.1:5432/test',
} as const;

/** Reads {@link CommonConfig}. */
export function readCommonConfig(env: Env = process.env): CommonConfig {
  return {
    zookeeperConnect: envHostPorts(env, 'ZOOKEEPER_CONNECT', COMMON_DEFAULTS.zookeeperConnect).join(','),
    kafkaBrokers: envHostPorts(env, 'KAFKA_BROKERS', COMMON_DEFAULTS.kafkaBrokers),
    databaseUrl: envUrl(env, 'DATABASE_URL', COMMON_DEFAULTS.databaseUrl, ['postgres:', 'postgresql:']),
  };
}
