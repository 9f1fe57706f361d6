/**
 * The discovery server: one port that speaks Connect, gRPC and gRPC-Web (connect-node behind a
 * TCP listener that hands each connection to HTTP/2 or HTTP/1.1), with CORS for browsers, gRPC
 * server reflection and grpc.health.v1.Health.
 *
 * Several discovery processes can run side by side: each keeps its own view of ZooKeeper and
 * its own assignment counters, and they share nothing else.
 */
import { setMaxListeners } from 'node:events';
import type http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { DescFile, DescService } from '@bufbuild/protobuf';
import { file_google_protobuf_timestamp } from '@bufbuild/protobuf/wkt';
import { type ConnectRouter, cors } from '@connectrpc/connect';
import { DiscoveryService, file_chat_v1_discovery } from '../../gen/chat/v1/discovery_pb.js';
import { file_chat_v1_presence, PresenceService } from '../../gen/chat/v1/presence_pb.js';
import { file_grpc_health_v1_health, Health } from '../../gen/grpc/health/v1/health_pb.js';
import {
  file_grpc_reflection_v1_reflection,
  ServerReflection,
} from '../../gen/grpc/reflection/v1/reflection_pb.js';
import {
  file_grpc_reflection_v1alpha_reflection,
  ServerReflection as ServerReflectionV1Alpha,
} from '../../gen/grpc/reflection/v1alpha/reflection_pb.js';
import { ChatBackendError } from '../shared/errors.js';
import { createKafka } from '../shared/kafka.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { CHAT_SERVERS_PATH } from '../shared/registry.js';
import { DEFAULT_TOPICS, type Topics } from '../shared/topics.js';
import { ZkClient } from '../shared/zookeeper.js';
import { createDualServer, type DualHandler } from './dual-server.js';
import { HealthState, healthService } from './health.js';
import type { RandomFn } from './picker.js';
import { PresenceView } from './presence-view.js';
import { createReflectionIndex, REFLECTION_SERVICES, reflectionV1, reflectionV1Alpha } from './reflection.js';
import { createRpcHandler } from './rpc-handler.js';
import { ServerView } from './server-view.js';
import { chatErrorInterceptor, discoveryService, presenceService } from './services.js';

/** Default largest request message, in bytes (64 KiB); larger ones get RESOURCE_EXHAUSTED. */
export const DEFAULT_MAX_REQUEST_BYTES = 64 * 1024;

/** The usual gRPC port, the default listen port. */
export const DEFAULT_DISCOVERY_PORT = 50051;

/** Options of {@link createDiscoveryServer}. */
export interface DiscoveryServerOptions {
  /** ZooKeeper connect string (host:port[,...]); the server opens and closes its own session. Or pass `zk`. */
  zookeeperConnect?: string;
  /** A ZooKeeper client to use instead (started by start() if not yet; never closed by close()). */
  zk?: ZkClient;
  /** Where chat servers register. Default {@link CHAT_SERVERS_PATH}. */
  basePath?: string;
  /** ZooKeeper session timeout of the own session, in ms. Default 6000. */
  sessionTimeoutMs?: number;
  /** Listen address. Default 127.0.0.1. */
  host?: string;
  /** Listen port; 0 picks a free one. Default 50051. */
  port?: number;
  /** Kafka brokers for PresenceService. Default: none, and GetPresence answers UNAVAILABLE. */
  kafkaBrokers?: string[];
  /** Topic names; only `presence` is read. Default {@link DEFAULT_TOPICS}. */
  topics?: Topics;
  /** Origins browsers may call from ("*" = any). Default ["*"]. */
  corsOrigins?: string[];
  /** Largest request message in bytes. Default {@link DEFAULT_MAX_REQUEST_BYTES}. */
  maxRequestBytes?: number;
  /** An idle HTTP/2 connection (no open stream, no frame) is closed after this long, ms; 0 = never. Default 300000. */
  http2IdleTimeoutMs?: number;
  /** Random source for breaking ties between equally loaded servers. Default Math.random. */
  random?: RandomFn;
  /** Default: a pino logger named "discovery". */
  logger?: Logger;
}

/** A running (or startable) discovery server. */
export interface DiscoveryServer {
  /** http://host:port once started. */
  readonly url: string;
  /** The bound port once started. */
  readonly port: number;
  /** Connects to ZooKeeper, loads the view and listens; the presence consumer starts in the background. */
  start(): Promise<void>;
  /** Stops listening, ends open streams and closes what it opened. Idempotent. */
  close(): Promise<void>;
}

/** The chat.v1 services; their health follows the ZooKeeper connection. */
const CHAT_SERVICES = [DiscoveryService.typeName, PresenceService.typeName];

/** Every service a discovery server answers (reflection lists exactly these). */
export const DISCOVERY_SERVICES: readonly DescService[] = [
  DiscoveryService,
  PresenceService,
  Health,
  ServerReflection,
  ServerReflectionV1Alpha,
];

/** Descriptors reflection serves (their imports come along). */
const FILES: DescFile[] = [
  file_chat_v1_discovery,
  file_chat_v1_presence,
  file_google_protobuf_timestamp,
  file_grpc_health_v1_health,
  file_grpc_reflection_v1_reflection,
  file_grpc_reflection_v1alpha_reflection,
];

function configError(field: string, problem: string): ChatBackendError {
  return new ChatBackendError('CHAT_ERR_CONFIG', `${field}: ${problem}`);
}

/** Creates a discovery server; options are validated here, nothing is opened before start(). */
export function createDiscoveryServer(options: DiscoveryServerOptions): DiscoveryServer {
  const log = options.logger ?? createLogger({ name: 'discovery' });
  const host = options.host ?? '127.0.0.1';
  const wantedPort = options.port ?? DEFAULT_DISCOVERY_PORT;
  const basePath = options.basePath ?? CHAT_SERVERS_PATH;
  const sessionTimeoutMs = options.sessionTimeoutMs ?? 6000;
  const maxRequestBytes = options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
  const corsOrigins = options.corsOrigins ?? ['*'];
  const topics = options.topics ?? DEFAULT_TOPICS;
  if (!options.zk && !options.zookeeperConnect) throw configError('zookeeperConnect', 'required (or zk)');
  if (!Number.isInteger(wantedPort) || wantedPort < 0 || wantedPort > 65535) {
    throw configError('port', `expected 0..65535, got ${wantedPort}`);
  }
  if (!basePath.startsWith('/') || basePath.endsWith('/')) {
    throw configError('basePath', `expected an absolute path, got "${basePath}"`);
  }
  if (!Number.isInteger(sessionTimeoutMs) || sessionTimeoutMs < 1000) {
    throw configError('sessionTimeoutMs', `expected an integer >= 1000, got ${sessionTimeoutMs}`);
  }
  if (!Number.isInteger(maxRequestBytes) || maxRequestBytes < 1024) {
    throw configError('maxRequestBytes', `expected an integer >= 1024, got ${maxRequestBytes}`);
  }
  if (options.kafkaBrokers?.length === 0) throw configError('kafkaBrokers', 'expected at least one broker');

  const ownZk = !options.zk;
  const zk =
    options.zk ?? new ZkClient({ connect: options.zookeeperConnect!, sessionTimeoutMs, logger: log });
  const view = new ServerView({ zk, basePath, logger: log });
  const presence = options.kafkaBrokers
    ? new PresenceView({
        kafka: createKafka({ brokers: options.kafkaBrokers, clientId: 'chat-discovery', logger: log }),
        topics,
        logger: log,
      })
    : undefined;
  const health = new HealthState(CHAT_SERVICES, [Health.typeName, ...REFLECTION_SERVICES]);
  const reflection = createReflectionIndex(
    FILES,
    DISCOVERY_SERVICES.map((s) => s.typeName),
  );
  // Ends the long-lived streams (Health.Watch, reflection) on close. Unary calls do not listen
  // to it: a router-wide shutdownSignal costs every call a listener on this one EventTarget,
  // whose add and remove walk all listeners (quadratic when thousands of calls queue up).
  const shutdown = new AbortController();
  // Every open stream listens to it; that is not a leak.
  setMaxListeners(0, shutdown.signal);

  const updateHealth = () => {
    health.serving = zk.connected && view.loaded;
  };
  const zkEvents = ['connected', 'disconnected', 'expired', 'session'] as const;

  const routes = (router: ConnectRouter) => {
    router.service(DiscoveryService, discoveryService(view.table, options.random));
    router.service(
      PresenceService,
      presenceService(presence, (id) => view.has(id)),
    );
    router.service(Health, healthService(health, shutdown.signal));
    // Reflection has only bidi streams, so the per-call listener is paid by streams alone.
    router.service(ServerReflection, reflectionV1(reflection), { shutdownSignal: shutdown.signal });
    router.service(ServerReflectionV1Alpha, reflectionV1Alpha(reflection), {
      shutdownSignal: shutdown.signal,
    });
  };
  const rpc = createRpcHandler({
    routes,
    readMaxBytes: maxRequestBytes,
    interceptors: [chatErrorInterceptor],
    logger: log,
  });
  const handler = withCors(rpc, corsOrigins);

  const dual = createDualServer(handler, { http2IdleTimeoutMs: options.http2IdleTimeoutMs });
  const { tcp, h2, sockets } = dual;
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on('session', (session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });

  let port = 0;
  let started = false;
  let closed: Promise<void> | undefined;

  return {
    get url() {
      return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    },
    get port() {
      return port;
    },

    async start() {
      if (started) throw new ChatBackendError('CHAT_ERR_INTERNAL', 'discovery server already started');
      started = true;
      for (const event of zkEvents) zk.on(event, updateHealth);
      if (ownZk || zk.generation === 0) await zk.start();
      await view.start();
      updateHealth();
      presence?.start();
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(wantedPort, host, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
      port = (tcp.address() as AddressInfo).port;
      log.info({ url: this.url, basePath, servers: view.table.size }, 'discovery listening');
    },

    close() {
      closed ??= (async () => {
        shutdown.abort();
        health.serving = false;
        for (const event of zkEvents) zk.off(event, updateHealth);
        const stopped = new Promise<void>((resolve) => {
          if (!tcp.listening) return resolve();
          tcp.close(() => resolve());
        });
        for (const session of sessions) session.close();
        dual.closeIdleHttp1();
        // Connections whose calls do not finish in time are cut.
        const force = setTimeout(() => {
          for (const socket of sockets) socket.destroy();
        }, 1000);
        await stopped;
        clearTimeout(force);
        view.close();
        await presence
          ?.close()
          .catch((err: unknown) => log.warn({ err }, 'closing the presence consumer failed'));
        if (ownZk) await zk.close();
      })();
      return closed;
    },
  };
}

const ALLOWED_METHODS = cors.allowedMethods.join(', ');
const ALLOWED_HEADERS = [...cors.allowedHeaders, 'Authorization'].join(', ');
const EXPOSED_HEADERS = cors.exposedHeaders.join(', ');

/**
 * CORS for browsers on other origins: the actual response carries Access-Control-Allow-Origin
 * and exposes the gRPC-Web/Connect status headers; a preflight is answered here.
 */
function withCors(next: DualHandler, origins: readonly string[]): DualHandler {
  const any = origins.includes('*');
  const allowed = new Set(origins);
  return (req, res) => {
    const origin = req.headers.origin;
    const ok = typeof origin === 'string' && (any || allowed.has(origin));
    if (ok) {
      res.setHeader('Access-Control-Allow-Origin', any ? '*' : origin);
      if (!any) res.setHeader('Vary', 'Origin');
      res.setHeader('Access-Control-Expose-Headers', EXPOSED_HEADERS);
    }
    if (req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) {
      if (ok) {
        res.setHeader('Access-Control-Allow-Methods', ALLOWED_METHODS);
        res.setHeader('Access-Control-Allow-Headers', ALLOWED_HEADERS);
        res.setHeader('Access-Control-Max-Age', '7200');
      }
      res.statusCode = ok ? 204 : 403;
      res.end();
      return;
    }
    next(req, res);
  };
}
