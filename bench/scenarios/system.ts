/**
 * Our system under test, as child processes: chat servers, a writer and a discovery service on
 * the running ZooKeeper, Kafka and PostgreSQL (started by ensureInfra when missing). Each bench
 * run gets its own topics and consumer groups so leftovers of other runs or tests never count.
 */
import { Kafka, logLevel } from 'kafkajs';
import { ensureInfra, type Infra } from '../../src/infra/infra.js';
import { ensureTopics, retryWhileSettling, type Topics, topicEnds } from '../../src/shared/topics.js';
import { infraProcesses, type WatchedProcess } from '../harness/proc-stats.js';
import { runGenerators } from '../harness/run-generators.js';
import {
  type BenchService,
  lastWord,
  startBenchService,
  stopBenchServices,
  watched,
} from '../harness/services.js';
import type { TransportSpec } from '../harness/transport.js';

/** The HS256 secret of bench tokens (bench only). */
export const BENCH_SECRET = 'bench-only-secret-bench-only-secret-0123456789';

/** Options of {@link startOurSystem}. */
export interface OurSystemOptions {
  /** Distinct id of this run (topic and group names derive from it). */
  runId: string;
  /** Chat servers. */
  edges: number;
  /** Start a writer. Without one the catch-up watermark group is advanced by the bench (see prepareConnects). */
  writer: boolean;
  /** Start a discovery service. */
  discovery: boolean;
  /** The seed design: INSERT each message on the send path (EDGE_SEND_PATH_INSERT). Default false. */
  sendPathInsert?: boolean;
  /** Extra environment for every chat server (e.g. EDGE_HEARTBEAT_INTERVAL_MS). */
  edgeEnv?: NodeJS.ProcessEnv;
}

/** A running system. */
export interface OurSystem {
  infra: Infra;
  edgeUrls: string[];
  /** How the generator reaches the current chat servers (our frames, bench tokens). */
  readonly transport: TransportSpec;
  edges: BenchService[];
  services: BenchService[];
  topics: Topics;
  /** Every process worth sampling: the services plus Kafka, ZooKeeper and PostgreSQL. */
  watch: WatchedProcess[];
  /** Call before users connect: without a writer, marks everything so far as stored for catch-up. */
  prepareConnects(): Promise<void>;
  /** Stops and restarts the chat servers with a new count (fan-out scenario). */
  setEdges(count: number): Promise<void>;
  /**
   * Unrecorded load for `ms` at `rate` msg/s over `users` connections, so the Kafka broker's JVM is warm (JIT) before the
   * first measured step, as it is in any deployment that has run for a while.
   */
  warmUp(ms: number, rate: number, users: number, log: (line: string) => void): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the system. */
export async function startOurSystem(options: OurSystemOptions): Promise<OurSystem> {
  const infra = await ensureInfra();
  const topics: Topics = {
    messages: `bench.${options.runId}.messages`,
    presence: `bench.${options.runId}.presence`,
  };
  const writerGroup = options.writer ? `bench-writer-${options.runId}` : `bench-stored-${options.runId}`;
  const kafka = new Kafka({ brokers: infra.kafkaBrokers, clientId: 'bench', logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, topics);
  const common = {
    ZOOKEEPER_CONNECT: infra.zookeeperConnect,
    KAFKA_BROKERS: infra.kafkaBrokers.join(','),
    DATABASE_URL: infra.databaseUrl,
    CHAT_AUTH_SECRET: BENCH_SECRET,
    CHAT_TOPIC_MESSAGES: topics.messages,
    CHAT_TOPIC_PRESENCE: topics.presence,
    LOG_LEVEL: 'warn',
  };
  const services: BenchService[] = [];
  let edges: BenchService[] = [];
  let edgeGeneration = 0;
  const startEdges = async (count: number) => {
    edgeGeneration++;
    edges = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        startBenchService(
          `edge-${i + 1}`,
          'src/edge/main.ts',
          {
            ...common,
            ...options.edgeEnv,
            EDGE_ID: `bench-${options.runId}-${edgeGeneration}-${i + 1}`,
            EDGE_PORT: '0',
            WRITER_GROUP_ID: writerGroup,
            EDGE_SEND_PATH_INSERT: options.sendPathInsert ? 'true' : 'false',
          },
          /edge ready/,
        ),
      ),
    );
  };
  const markStored = async () => {
    if (options.writer) return;
    // The seed design stores before it acks, so everything in the topic is stored: tell the
    // catch-up watermark so (the bench plays the part of a writer that has caught up).
    const ends = await topicEnds(admin, topics.messages);
    await retryWhileSettling(() =>
      admin.setOffsets({
        groupId: writerGroup,
        topic: topics.messages,
        partitions: ends.map((p) => ({ partition: p.partition, offset: String(p.high) })),
      }),
    );
  };
  try {
    // Everything starts at once; the first markStored also warms the group coordinator lookup.
    const started = await Promise.all([
      options.writer
        ? startBenchService(
            'writer',
            'src/writer/main.ts',
            {
              ...common,
              WRITER_GROUP_ID: writerGroup,
              WRITER_OPS_PORT: '0',
            },
            /writer ready/,
          )
        : undefined,
      options.discovery
        ? startBenchService(
            'discovery',
            'src/discovery/main.ts',
            { ...common, DISCOVERY_PORT: '0' },
            /discovery (ready|listening)/,
          )
        : undefined,
      startEdges(options.edges),
      markStored(),
    ]);
    for (const s of started.slice(0, 2)) if (s) services.push(s as BenchService);
  } catch (err) {
    await stopBenchServices([...edges, ...services], 3000);
    await admin.disconnect();
    throw err;
  }
  const system: OurSystem = {
    infra,
    topics,
    get edges() {
      return edges;
    },
    get edgeUrls() {
      return edges.map((e) => lastWord(e.readyLine));
    },
    get transport(): TransportSpec {
      return { kind: 'frames', urls: system.edgeUrls, authSecret: BENCH_SECRET };
    },
    get services() {
      return [...services, ...edges];
    },
    get watch() {
      return [...watched([...services, ...edges]), ...infraProcesses()];
    },
    prepareConnects: markStored,
    async setEdges(count) {
      await stopBenchServices(edges);
      await startEdges(count);
    },
    async warmUp(ms, rate, users, log) {
      if (ms <= 0) return;
      log(`  warming up Kafka: ${rate} msg/s for ${Math.round(ms / 1000)} s, not recorded`);
      await markStored();
      await runGenerators({
        transport: system.transport,
        load: {
          prefix: `${options.runId}-warmup`,
          users,
          servers: edges.length,
          rate,
          warmupMs: 0,
          durationMs: ms,
          drainMs: 2000,
          bodyBytes: 100,
          connectConcurrency: 50,
        },
      });
    },
    async stop() {
      await stopBenchServices(edges);
      await stopBenchServices(services);
      await admin.deleteTopics({ topics: [topics.messages, topics.presence] }).catch(() => {});
      await admin.disconnect();
      await infra.stop();
    },
  };
  return system;
}
