/**
 * A whole chat system for one test, as REAL child processes: a discovery service, N chat servers
 * and M writers (each `node --import tsx src/<service>/main.ts`, so SIGKILL/SIGSTOP reach the
 * service itself), isolated from every other test by unique Kafka topics, a unique ZooKeeper
 * base path and a unique writer group. Ports are picked by the services (port 0) and read from
 * their ready lines. Everything is stopped when the test (or, with afterAll, the file) ends.
 *
 *   const cluster = await startCluster({ chatServers: 2 });
 *   const alice = cluster.client(cluster.user('alice'));
 *   cluster.edges[0].kill();            // SIGKILL
 *   cluster.edges[1].pause();           // SIGSTOP (resume() = SIGCONT)
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { onTestFinished } from 'vitest';
import type { ChatClientOptions } from '../../src/client/chat-client.js';
import type { ChatClient } from '../../src/client/index.js';
import { createNodeChatClient } from '../../src/client/node.js';
import { signToken } from '../../src/shared/auth.js';
import { openDatabase } from '../../src/shared/db/database.js';
import type { Database } from '../../src/shared/db/schema.js';
import { createKafka } from '../../src/shared/kafka.js';
import { ensureTopics, type Topics, uniqueTopics } from '../../src/shared/topics.js';
import { ZkClient } from '../../src/shared/zookeeper.js';
import { startService } from '../../src/stack/supervisor.js';
import { readStored, type StoredRow } from './checker.js';
import { infra } from './infra.js';

/** Environment variables for one process. */
export type Env = Record<string, string | undefined>;

/** Options of {@link startCluster}; every field is optional. */
export interface ClusterOptions {
  /** Chat servers started at once. Default 2. */
  chatServers?: number;
  /** Writers started at once. Default 1. */
  writers?: number;
  /** Start a discovery service. Default true. */
  discovery?: boolean;
  /** Partitions of the messages topic. Default 3. */
  messagePartitions?: number;
  /** ZooKeeper of this cluster. Default: the shared test ZooKeeper. */
  zookeeperConnect?: string;
  /** Kafka of this cluster. Default: the shared test Kafka. */
  kafkaBrokers?: string[];
  /** PostgreSQL URL the services use (point it at a TCP proxy to cut it). Default: the shared one. */
  databaseUrl?: string;
  /** ZooKeeper session timeout of every service, in ms. Default 4000. */
  zkSessionTimeoutMs?: number;
  /** Heartbeat interval the chat servers announce, in ms. Default: the server's own (10000). */
  heartbeatIntervalMs?: number;
  /** pino level of every service (LOG_LEVEL). Default: unset (services are silent under vitest). */
  logLevel?: string;
  /** Extra environment for every process / per kind (applied after the cluster's own). */
  env?: Env;
  edgeEnv?: Env;
  writerEnv?: Env;
  discoveryEnv?: Env;
  /** Echo every service line to the console (debugging). Default false (lines are kept in logs()). */
  echo?: boolean;
}

/** One service process of the cluster. */
export interface ClusterProcess {
  /** e.g. "edge-1", "writer-2", "discovery". */
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** Chat server: its WebSocket URL; writer: its ops URL; discovery: its RPC URL. */
  readonly url: string;
  /** http://host:port serving /healthz and /metrics. */
  readonly httpUrl: string;
  /** The chat server id (EDGE_ID) for chat servers, else the name. */
  readonly id: string;
  /** Resolves with the exit code or signal name. */
  readonly exited: Promise<number | string>;
  /** Every stdout/stderr line so far. */
  logs(): string;
  /** True until the process has exited. */
  alive(): boolean;
  /** Sends a signal (default SIGKILL). */
  kill(signal?: NodeJS.Signals): void;
  /** SIGSTOP: the process keeps its sockets but stops answering. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** SIGTERM and wait for exit (SIGKILL after graceMs, default 12000); returns the exit code/signal. */
  stop(graceMs?: number): Promise<number | string>;
  /** Sum of a metric's samples on /metrics (labels filtered by `labels`), undefined if absent. */
  metric(name: string, labels?: Record<string, string>): Promise<number | undefined>;
}

/** A running system. */
export interface Cluster {
  /** A unique tag of this cluster (in topic names, paths, groups). */
  readonly tag: string;
  readonly topics: Topics;
  readonly zkBasePath: string;
  readonly writerGroup: string;
  readonly authSecret: string;
  readonly zookeeperConnect: string;
  readonly kafkaBrokers: string[];
  readonly databaseUrl: string;
  /** http://host:port of discovery ('' without one). */
  readonly discoveryUrl: string;
  readonly discovery: ClusterProcess | undefined;
  /** Every chat server started, in start order (killed ones stay in the list; check alive()). */
  readonly edges: ClusterProcess[];
  readonly writers: ClusterProcess[];
  /** Starts one more chat server. */
  startEdge(env?: Env): Promise<ClusterProcess>;
  /** Starts one more writer. */
  startWriter(env?: Env): Promise<ClusterProcess>;
  /** A user id unique to this cluster. */
  user(prefix?: string): string;
  /** Every user id user() made so far. */
  users(): string[];
  /** A valid token for the user, signed with the cluster's secret. */
  token(userId: string, ttlSeconds?: number): Promise<string>;
  /** A Node SDK client through this cluster's discovery, closed when the cluster stops. */
  client(userId: string, options?: Partial<ChatClientOptions>): ChatClient;
  /** The test's own database handle (shared PostgreSQL unless overridden), closed at stop. */
  db(): Promise<Kysely<Database>>;
  /** Stored rows sent by or to these users. */
  stored(users: readonly string[]): Promise<StoredRow[]>;
  /** Stops everything: clients close, services get SIGTERM (SIGKILL after a grace), topics go. Idempotent. */
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';

/** The real discovery entry point; CHAT_ZK_BASE_PATH points it at the cluster's registrations. */
const DISCOVERY_ENTRY = 'src/discovery/main.ts';

function httpOf(wsUrl: string): string {
  const u = new URL(wsUrl);
  return `${u.protocol === 'wss:' ? 'https' : 'http'}://${u.host}`;
}

/** Parses a Prometheus text exposition and sums the samples of `name` matching `labels`. */
export function sumMetric(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  let found = false;
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const labelText = m[2] ?? '';
    if (Object.entries(labels).some(([k, v]) => !labelText.includes(`${k}="${v}"`))) continue;
    found = true;
    sum += Number(m[3]);
  }
  return found ? sum : undefined;
}

/** Starts a cluster; see {@link ClusterOptions}. Stops itself when the current test finishes, if any. */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const shared = infra();
  const tag = randomBytes(5).toString('hex');
  const topics = uniqueTopics(tag);
  const zkBasePath = `/chat-test/${tag}/servers`;
  const writerGroup = `chat-writer-${tag}`;
  const authSecret = `reliability-secret-${randomBytes(16).toString('hex')}`;
  const zookeeperConnect = options.zookeeperConnect ?? shared.zookeeperConnect;
  const kafkaBrokers = options.kafkaBrokers ?? shared.kafkaBrokers;
  const databaseUrl = options.databaseUrl ?? shared.databaseUrl;
  const processes: ClusterProcess[] = [];
  const clients = new Set<ChatClient>();
  let database: Awaited<ReturnType<typeof openDatabase>> | undefined;
  let edgeCount = 0;
  let writerCount = 0;
  let userCount = 0;
  const userIds: string[] = [];
  let stopped = false;

  const admin = createKafka({ brokers: kafkaBrokers, clientId: `cluster-${tag}` }).admin();
  await admin.connect();
  try {
    await ensureTopics(admin, topics, {
      messagePartitions: options.messagePartitions ?? 3,
      presencePartitions: 1,
    });
  } finally {
    await admin.disconnect();
  }

  const common: Env = {
    ZOOKEEPER_CONNECT: zookeeperConnect,
    KAFKA_BROKERS: kafkaBrokers.join(','),
    DATABASE_URL: databaseUrl,
    CHAT_AUTH_SECRET: authSecret,
    CHAT_TOPIC_MESSAGES: topics.messages,
    CHAT_TOPIC_PRESENCE: topics.presence,
    CHAT_ZK_BASE_PATH: zkBasePath,
    ZOOKEEPER_SESSION_TIMEOUT_MS: String(options.zkSessionTimeoutMs ?? 4000),
    ...(options.logLevel !== undefined && { LOG_LEVEL: options.logLevel }),
    ...options.env,
  };

  function launch(
    name: string,
    entry: string,
    env: Env,
    ready: RegExp,
    urls: (line: string) => { url: string; httpUrl: string },
    id = name,
  ): Promise<ClusterProcess> {
    let lines = '';
    const service = startService({
      name,
      entry,
      env: { ...common, ...env },
      readyPattern: ready,
      print: (line) => {
        lines += `${line}\n`;
        if (options.echo) console.log(line);
      },
    });
    const child = service.child;
    const exited = new Promise<number | string>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode ?? child.signalCode!);
      child.once('exit', (code, signal) => resolve(code ?? signal ?? -1));
    });
    const alive = () => child.exitCode === null && child.signalCode === null;
    return service.ready.then(
      (line) => {
        const { url, httpUrl } = urls(line);
        const proc: ClusterProcess = {
          name,
          child,
          pid: child.pid!,
          url,
          httpUrl,
          id,
          exited,
          logs: () => lines,
          alive,
          kill: (signal = 'SIGKILL') => {
            if (alive()) child.kill(signal);
          },
          pause: () => {
            if (alive()) child.kill('SIGSTOP');
          },
          resume: () => {
            if (alive()) child.kill('SIGCONT');
          },
          async stop(graceMs = 12000) {
            if (!alive()) return exited;
            child.kill('SIGCONT');
            child.kill('SIGTERM');
            const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
            const how = await exited;
            clearTimeout(timer);
            return how;
          },
          async metric(metricName, labels) {
            const res = await fetch(`${httpUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
            return sumMetric(await res.text(), metricName, labels);
          },
        };
        processes.push(proc);
        return proc;
      },
      (err: unknown) => {
        if (alive()) child.kill('SIGKILL');
        throw new Error(`${(err as Error).message}\n${lines.slice(-3000)}`);
      },
    );
  }

  const startEdge = async (env: Env = {}) => {
    const n = ++edgeCount;
    const id = `edge-${tag}-${n}`;
    const proc = await launch(
      `edge-${n}`,
      'src/edge/main.ts',
      {
        EDGE_ID: id,
        EDGE_HOST: HOST,
        EDGE_PORT: '0',
        WRITER_GROUP_ID: writerGroup,
        CHAT_ZK_BASE_PATH: zkBasePath,
        ...(options.heartbeatIntervalMs !== undefined && {
          EDGE_HEARTBEAT_INTERVAL_MS: String(options.heartbeatIntervalMs),
        }),
        ...options.edgeEnv,
        ...env,
      },
      /^edge ready \S+ (ws\S+)/,
      (line) => {
        const url = /edge ready \S+ (ws\S+)/.exec(line)![1]!;
        return { url, httpUrl: httpOf(url) };
      },
      id,
    );
    cluster.edges.push(proc);
    return proc;
  };

  const startWriter = async (env: Env = {}) => {
    const n = ++writerCount;
    const proc = await launch(
      `writer-${n}`,
      'src/writer/main.ts',
      {
        WRITER_GROUP_ID: writerGroup,
        CHAT_TOPIC_MESSAGES: topics.messages,
        CHAT_TOPIC_PRESENCE: topics.presence,
        WRITER_OPS_HOST: HOST,
        WRITER_OPS_PORT: '0',
        ...options.writerEnv,
        ...env,
      },
      /^writer ready/,
      (line) => {
        const url = /writer ready (http\S+)/.exec(line)?.[1] ?? '';
        return { url, httpUrl: url };
      },
    );
    cluster.writers.push(proc);
    return proc;
  };

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    for (const c of clients) c.close();
    await Promise.all(processes.map((p) => p.stop(5000)));
    await database?.close();
    const cleanup = createKafka({ brokers: kafkaBrokers, clientId: `cluster-${tag}-cleanup` }).admin();
    try {
      await cleanup.connect();
      await cleanup.deleteTopics({ topics: [topics.messages, topics.presence], timeout: 5000 });
    } catch {
      // A broker a test stopped for good cannot delete; the topics are unique anyway.
    } finally {
      await cleanup.disconnect().catch(() => {});
    }
    await removeZkTree(zookeeperConnect, `/chat-test/${tag}`).catch(() => {});
  };

  const cluster: Cluster = {
    tag,
    topics,
    zkBasePath,
    writerGroup,
    authSecret,
    zookeeperConnect,
    kafkaBrokers,
    databaseUrl,
    discoveryUrl: '',
    discovery: undefined,
    edges: [],
    writers: [],
    startEdge,
    startWriter,
    user: (prefix = 'u') => {
      const id = `${prefix}-${tag}-${++userCount}`;
      userIds.push(id);
      return id;
    },
    users: () => [...userIds],
    token: (userId, ttlSeconds) => signToken(userId, { secret: authSecret, ttlSeconds: ttlSeconds ?? 3600 }),
    client(userId, clientOptions = {}) {
      const client = createNodeChatClient({
        discoveryUrl: cluster.discoveryUrl,
        userId,
        token: () => cluster.token(userId),
        reconnect: { initialDelayMs: 100, maxDelayMs: 2000 },
        ...clientOptions,
      });
      clients.add(client);
      return client;
    },
    async db() {
      database ??= await openDatabase({ url: shared.databaseUrl, maxConnections: 2, migrate: false });
      return database.db;
    },
    async stored(users) {
      return readStored(await cluster.db(), users);
    },
    stop,
  };

  try {
    onTestFinished(stop);
  } catch {
    // Started from beforeAll: the caller stops it in afterAll.
  }

  try {
    if (options.discovery ?? true) {
      const discovery = await launch(
        'discovery',
        DISCOVERY_ENTRY,
        {
          DISCOVERY_HOST: HOST,
          DISCOVERY_PORT: '0',
          CHAT_ZK_BASE_PATH: zkBasePath,
          ...options.discoveryEnv,
        },
        /^discovery ready http/,
        (line) => {
          const url = /(http:\/\/[^\s"]+)/.exec(line)?.[1] ?? '';
          return { url, httpUrl: url };
        },
      );
      Object.assign(cluster, { discovery, discoveryUrl: discovery.url });
    }
    // Writers first: catch-up waits for the writer group's commits.
    await Promise.all(Array.from({ length: options.writers ?? 1 }, () => startWriter()));
    await Promise.all(Array.from({ length: options.chatServers ?? 2 }, () => startEdge()));
    if (cluster.discovery)
      await waitListed(
        cluster.discoveryUrl,
        cluster.edges.map((e) => e.id),
      );
  } catch (err) {
    await stop();
    throw err;
  }
  return cluster;
}

/** Waits until discovery lists every one of these chat servers (its view follows ZooKeeper watches). */
async function waitListed(discoveryUrl: string, ids: string[]): Promise<void> {
  const listed = async () => {
    const res = await fetch(`${discoveryUrl}/chat.v1.DiscoveryService/ListChatServers`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
      signal: AbortSignal.timeout(5000),
    });
    const { servers = [] } = (await res.json()) as { servers?: { id: string }[] };
    return servers.map((s) => s.id);
  };
  await eventually(async () => {
    const have = await listed().catch(() => [] as string[]);
    return ids.every((id) => have.includes(id));
  }, 15_000);
}

/** Deletes a ZooKeeper subtree (children first). */
async function removeZkTree(connect: string, root: string): Promise<void> {
  const zk = new ZkClient({ connect, sessionTimeoutMs: 4000, startTimeoutMs: 3000 });
  await zk.start();
  try {
    const remove = async (path: string): Promise<void> => {
      const children = await zk.getChildren(path).catch(() => [] as string[]);
      for (const child of children) await remove(`${path}/${child}`);
      await zk.delete(path).catch(() => {});
    };
    await remove(root);
  } finally {
    await zk.close();
  }
}

/** Polls until check() is true; throws with describe() after timeoutMs. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  describe: () => unknown = () => '',
  intervalMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) {
      throw new Error(`not reached within ${timeoutMs} ms: ${JSON.stringify(await describe())}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
