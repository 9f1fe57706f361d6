/**
 * The chat server: HTTP (/healthz, /metrics) plus the /ws WebSocket endpoint, wired to Kafka
 * (batching producer, delivery consumer, presence), PostgreSQL (catch-up), and ZooKeeper
 * (registration for discovery). See docs/protocol.md for the wire protocol.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { type Admin, Partitioners, type Producer } from 'kafkajs';
import type { Registry } from 'prom-client';
import { WebSocketServer } from 'ws';
import type { SendAck } from '../../gen/chat/v1/frames_pb.js';
import { type OpenDatabase, openDatabase } from '../shared/db/database.js';
import { createKafka } from '../shared/kafka.js';
import { createLogger } from '../shared/logger.js';
import { handleOps } from '../shared/ops-server.js';
import { createRegistration, type Registration } from '../shared/registry.js';
import { ensureTopics } from '../shared/topics.js';
import { ZkClient } from '../shared/zookeeper.js';
import { type BatchingProducer, createBatchingProducer } from './batching-producer.js';
import { CLOSE } from './close-codes.js';
import { type EdgeOptions, resolveEdgeOptions } from './config.js';
import { createDelivery, type Delivery } from './delivery.js';
import { createEdgeMetrics } from './metrics.js';
import { createPresencePublisher, type PresencePublisher } from './presence-publisher.js';
import { createSendDedupe } from './send-dedupe.js';
import { Session, type SessionContext, SessionSocket } from './session.js';
import { authorizeUpgrade, refuseUpgrade, UpgradeRefused } from './upgrade.js';
import { createWriterWatermark, type WriterWatermark } from './writer-watermark.js';

/** A chat server. */
export interface EdgeServer {
  /** Connects to ZooKeeper, Kafka and PostgreSQL, joins the delivery group, listens, registers. */
  start(): Promise<void>;
  readonly id: string;
  /** http://host:port (after start). */
  readonly url: string;
  /** The WebSocket URL registered for clients (after start). */
  readonly wsUrl: string;
  readonly metrics: Registry;
  /** Open WebSocket connections. */
  readonly connections: number;
  /**
   * Graceful shutdown, first half: draining=true in ZooKeeper, refuse new upgrades (503), flush
   * pending sends, close sockets with 1012 in waves, publish everyone offline, deregister.
   */
  drain(): Promise<void>;
  /** Drains (if not yet) and releases everything. Idempotent. */
  close(): Promise<void>;
}

/**
 * The upgrade socket's error listener until ws takes the socket over. One shared function: a
 * closure would keep the upgrade's scope (the request with its headers, the head buffer) alive
 * for as long as the listener stays, about 2 KB per connection.
 */
function destroySocket(this: Duplex): void {
  this.destroy();
}

/** Creates a chat server; validates the options at once (CHAT_ERR_CONFIG naming the field). */
export function createEdgeServer(edgeOptions: EdgeOptions): EdgeServer {
  const options = resolveEdgeOptions(edgeOptions);
  const { id, topics } = options;
  const log = (options.logger ?? createLogger({ name: 'edge' })).child({ serverId: id });
  const metrics = createEdgeMetrics(id);
  const sessions = new Set<Session>();
  const dedupe = createSendDedupe<SendAck>();

  let url = '';
  let wsUrl = '';
  let draining = false;
  let started = false;
  let drainPromise: Promise<void> | undefined;
  let closePromise: Promise<void> | undefined;
  let producerUp = false;

  let zk: ZkClient | undefined;
  let admin: Admin | undefined;
  let producer: Producer | undefined;
  let database: OpenDatabase | undefined;
  let batching: BatchingProducer | undefined;
  let delivery: Delivery | undefined;
  let watermark: WriterWatermark | undefined;
  let presence: PresencePublisher | undefined;
  let registration: Registration | undefined;
  let http: Server | undefined;
  let sweepTimer: NodeJS.Timeout | undefined;
  const wss = new WebSocketServer({
    WebSocket: SessionSocket,
    noServer: true,
    maxPayload: options.maxFrameBytes,
    perMessageDeflate: false,
    clientTracking: false,
  });

  const checks = {
    kafkaProducer: () => producerUp,
    deliveryConsumer: () => delivery?.joined ?? false,
    zookeeper: () => zk?.connected ?? false,
    draining: () => !draining,
  };

  function connectionsChanged(): void {
    metrics.connections.set(sessions.size);
    registration?.setConnections(sessions.size);
  }

  function context(): SessionContext {
    return {
      serverId: id,
      options,
      metrics,
      log,
      delivery: delivery!,
      watermark: watermark!,
      db: database!.db,
      producer: batching!,
      dedupe,
      presence: presence!,
      isDraining: () => draining,
      onClosed: (s) => {
        sessions.delete(s);
        connectionsChanged();
      },
    };
  }

  function sweepSilent(): void {
    const limit = Date.now() - 3 * options.heartbeatIntervalMs;
    for (const s of sessions) {
      if (s.lastFrameAt < limit) s.close(CLOSE.HEARTBEAT_TIMEOUT, true);
    }
  }

  async function start(): Promise<void> {
    if (started) throw new Error('already started');
    started = true;
    zk = new ZkClient({
      connect: options.zookeeperConnect,
      sessionTimeoutMs: options.zkSessionTimeoutMs,
      logger: log,
    });
    await zk.start();
    const kafka = createKafka({ brokers: options.kafkaBrokers, clientId: `chat-edge-${id}`, logger: log });
    admin = kafka.admin();
    await admin.connect();
    if (options.ensureTopics) await ensureTopics(admin, topics);
    const p = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    producer = p;
    p.on(p.events.CONNECT, () => {
      producerUp = true;
    });
    p.on(p.events.DISCONNECT, () => {
      producerUp = false;
    });
    await p.connect();
    producerUp = true;
    batching = createBatchingProducer({
      sender: p,
      lingerMs: options.lingerMs,
      maxBatch: options.maxBatch,
      maxBatchBytes: options.maxBatchBytes,
      maxQueued: options.maxQueuedSends,
      sendTimeoutMs: options.sendTimeoutMs,
      onBatch: (size, durationMs) => {
        metrics.batchSize.observe(size);
        metrics.produceSeconds.observe(durationMs / 1000);
      },
    });
    database = await openDatabase({ url: options.databaseUrl, applicationName: `chat-edge-${id}` });
    // A unique group per start: the group must be empty when its start offsets are written.
    delivery = createDelivery({
      kafka,
      admin,
      topic: topics.messages,
      groupId: `chat-edge-${id}-${Date.now().toString(36)}`,
      metrics,
      logger: log,
    });
    await delivery.start();
    watermark = createWriterWatermark({
      admin,
      groupId: options.writerGroupId,
      topic: topics.messages,
      pollMs: options.watermarkPollMs,
      logger: log,
    });
    const b = batching;
    presence = createPresencePublisher({
      serverId: id,
      topic: topics.presence,
      send: (topic, message) => b.send(topic, message),
      flushMs: options.presenceFlushMs,
      logger: log,
    });

    const sessionContext = context();
    http = createServer((req, res) => {
      if (!handleOps(req, res, metrics.registry, checks)) res.writeHead(404).end();
    });
    http.on('upgrade', (req, socket, head) => {
      socket.on('error', destroySocket);
      authorizeUpgrade(req, { secret: options.authSecret, allowedOrigins: options.allowedOrigins, draining })
        .then((userId) => {
          if (draining) throw new UpgradeRefused(503, 'draining; ask discovery for another server');
          if (socket.destroyed) return;
          wss.handleUpgrade(req, socket, head, (ws) => {
            // ws owns the socket now and destroys it on error itself.
            socket.off('error', destroySocket);
            if (draining) {
              ws.close(CLOSE.SERVICE_RESTART.code, CLOSE.SERVICE_RESTART.reason);
              return;
            }
            const session = new Session(ws, userId, sessionContext);
            sessions.add(session);
            connectionsChanged();
          });
        })
        .catch((err: unknown) => {
          if (err instanceof UpgradeRefused) {
            metrics.errors.inc({ code: `HTTP_${err.status}` });
            refuseUpgrade(socket, err.status, err.message);
          } else {
            log.error({ err }, 'upgrade failed');
            refuseUpgrade(socket, 500, 'internal error');
          }
        });
    });
    const server = http;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const { port } = server.address() as AddressInfo;
    const host = options.host.includes(':') ? `[${options.host}]` : options.host;
    url = `http://${host}:${port}`;
    // A wildcard address is no place to connect to; without EDGE_PUBLIC_URL advertise loopback.
    const wildcard = options.host === '0.0.0.0' || options.host === '::';
    if (wildcard && !options.publicWsUrl)
      log.warn('listening on a wildcard address without publicWsUrl; advertising 127.0.0.1');
    wsUrl = options.publicWsUrl ?? `ws://${wildcard ? '127.0.0.1' : host}:${port}/ws`;
    const sweepMs = Math.max(5, Math.min(1000, options.heartbeatIntervalMs / 2));
    sweepTimer = setInterval(sweepSilent, sweepMs);
    sweepTimer.unref();
    registration = createRegistration({
      zk,
      server: { id, wsUrl },
      basePath: options.zkBasePath,
      logger: log,
    });
    await registration.start();
    log.info({ url, wsUrl }, 'chat server ready');
  }

  async function closeSocketsInWaves(): Promise<void> {
    const all = [...sessions];
    const waves = Math.max(1, Math.min(options.drainWaves, all.length));
    const per = Math.ceil(all.length / waves);
    const pause = waves > 1 ? options.drainDurationMs / waves : 0;
    for (let w = 0; w < waves; w++) {
      for (const s of all.slice(w * per, (w + 1) * per)) s.close(CLOSE.SERVICE_RESTART);
      if (w < waves - 1) await new Promise((r) => setTimeout(r, pause));
    }
    const deadline = Date.now() + 3000;
    while (sessions.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }

  async function drain(): Promise<void> {
    if (!started) return;
    drainPromise ??= (async () => {
      draining = true;
      log.info({ connections: sessions.size }, 'draining');
      await registration?.drain().catch((err: unknown) => log.warn({ err }, 'publishing draining failed'));
      // Sends already accepted get their SendAck before their socket closes; new ones get DRAINING.
      await batching?.flush();
      await closeSocketsInWaves();
      await presence?.offlineAll().catch((err: unknown) => log.warn({ err }, 'publishing offline failed'));
      await batching?.flush();
      await registration?.stop().catch((err: unknown) => log.warn({ err }, 'deregistering failed'));
      log.info('drained');
    })();
    return drainPromise;
  }

  async function close(): Promise<void> {
    closePromise ??= (async () => {
      await drain().catch((err: unknown) => log.warn({ err }, 'drain failed'));
      clearInterval(sweepTimer);
      for (const s of sessions) s.close(CLOSE.NORMAL, true);
      presence?.stop();
      watermark?.close();
      await new Promise<void>((resolve) => {
        if (!http?.listening) return resolve();
        http.closeAllConnections();
        http.close(() => resolve());
      });
      await delivery?.stop();
      await producer?.disconnect().catch(() => {});
      await admin?.disconnect().catch(() => {});
      await database?.close().catch(() => {});
      await zk?.close().catch(() => {});
      wss.close();
    })();
    return closePromise;
  }

  return {
    start,
    get id() {
      return id;
    },
    get url() {
      return url;
    },
    get wsUrl() {
      return wsUrl;
    },
    get metrics() {
      return metrics.registry;
    },
    get connections() {
      return sessions.size;
    },
    drain,
    close,
  };
}
