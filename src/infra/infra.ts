/**
 * Brings up what the system needs on this machine, reusing servers that already answer:
 * ZooKeeper, Kafka and PostgreSQL. Used by `npm start`, `npm run infra:up` and vitest's global
 * setup; stop() stops only what this call started.
 */
import { Kafka, logLevel } from 'kafkajs';
import { readCommonConfig } from '../shared/config.js';
import { KAFKA_PROCESS, startKafka } from './kafka-server.js';
import { postgresProblem, startEmbeddedPostgres } from './postgres.js';
import { InfraError, stopProcess } from './processes.js';
import { startZooKeeper, ZOOKEEPER_PROCESS } from './zookeeper-server.js';

/** What is running, where, and how to stop what was started here. */
export interface Infra {
  zookeeperConnect: string;
  kafkaBrokers: string[];
  databaseUrl: string;
  /** Names of the servers this call started. */
  started: string[];
  stop(): Promise<void>;
}

/** Options of {@link ensureInfra}. */
export interface EnsureInfraOptions {
  /** Progress lines (e.g. console.log). Default: silent. */
  log?: (line: string) => void;
  /** Detached servers (ZooKeeper, Kafka) keep running after stop(). Default false. */
  keep?: boolean;
}

function loopbackPort(address: string, variable: string): number {
  const [host, port] = address.split(':');
  if (host !== '127.0.0.1' && host !== 'localhost') {
    throw new InfraError(
      `${variable}=${address} is not a loopback address and does not answer; start it yourself`,
    );
  }
  return Number(port);
}

/** Starts whatever of ZooKeeper, Kafka and PostgreSQL is missing, and waits until each is ready. */
export async function ensureInfra(options: EnsureInfraOptions = {}): Promise<Infra> {
  const log = options.log ?? (() => {});
  const config = readCommonConfig();
  const started: string[] = [];
  const stops: Array<() => Promise<unknown>> = [];

  const zkAddress = config.zookeeperConnect.split(',')[0]!;
  const kafkaAddress = config.kafkaBrokers[0]!;
  const [zkStarted, kafkaStarted] = await Promise.all([
    startZooKeeper(loopbackPort(zkAddress, 'ZOOKEEPER_CONNECT')),
    startKafka(loopbackPort(kafkaAddress, 'KAFKA_BROKERS')),
  ]);
  if (zkStarted) {
    started.push(ZOOKEEPER_PROCESS);
    stops.push(() => stopProcess(ZOOKEEPER_PROCESS));
  }
  log(`zookeeper  ${config.zookeeperConnect}${zkStarted ? ' (started)' : ' (already running)'}`);
  if (kafkaStarted) {
    started.push(KAFKA_PROCESS);
    stops.push(() => stopProcess(KAFKA_PROCESS));
  }
  log(`kafka      ${config.kafkaBrokers.join(',')}${kafkaStarted ? ' (started)' : ' (already running)'}`);
  await warmGroupCoordinator(config.kafkaBrokers);

  let databaseUrl = config.databaseUrl;
  const problem = await postgresProblem(databaseUrl);
  if (problem) {
    if (process.env.DATABASE_URL) throw new InfraError(`DATABASE_URL does not answer: ${problem}`);
    const embedded = await startEmbeddedPostgres(Number(process.env.EMBEDDED_POSTGRES_PORT ?? 54329));
    databaseUrl = embedded.url;
    started.push('postgres');
    stops.push(() => embedded.stop());
    log(`postgres   ${databaseUrl.replace(/:[^:@/]+@/, ':***@')} (embedded, started)`);
  } else {
    log(`postgres   ${databaseUrl.replace(/:[^:@/]+@/, ':***@')} (already running)`);
  }

  return {
    zookeeperConnect: config.zookeeperConnect,
    kafkaBrokers: config.kafkaBrokers,
    databaseUrl,
    started,
    async stop() {
      if (options.keep) return;
      for (const stop of stops.reverse()) await stop().catch(() => {});
    },
  };
}

/**
 * The first consumer group on a fresh broker waits for __consumer_offsets to be created;
 * joining a throwaway group once here keeps that wait out of every test and service start.
 */
async function warmGroupCoordinator(brokers: string[]): Promise<void> {
  const admin = new Kafka({ clientId: 'chat-infra-warm', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const deadline = Date.now() + 30000;
    for (;;) {
      try {
        await admin.describeGroups(['chat-infra-warm']);
        return;
      } catch (err) {
        if (Date.now() > deadline)
          throw new InfraError(`Kafka group coordinator not ready: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  } finally {
    await admin.disconnect();
  }
}
