/**
 * A single-node Apache Kafka 4.x broker in KRaft combined mode (broker + controller in one
 * JVM) for development and tests, tuned so tests never wait on defaults: no initial rebalance
 * delay, few internal partitions, no auto-created topics.
 */

import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { serverClasspath } from './jars.js';
import { dataDir } from './paths.js';
import {
  InfraError,
  logTail,
  portOpen,
  requireCommand,
  runningPid,
  spawnJava,
  waitFor,
} from './processes.js';

export const KAFKA_PROCESS = 'kafka';

/** True when a Kafka broker on the address answers a metadata request. */
export async function kafkaReady(broker: string): Promise<boolean> {
  const admin = new Kafka({
    clientId: 'chat-infra-probe',
    brokers: [broker],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    requestTimeout: 3000,
    retry: { retries: 0 },
  }).admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0 && cluster.controller !== null;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** JVM heap for the broker. Env KAFKA_HEAP, default 768m. */
function heap(): string {
  return process.env.KAFKA_HEAP ?? '768m';
}

/**
 * Starts Kafka on 127.0.0.1:port (controller on port+1) unless a broker already answers there;
 * returns true if started here.
 */
export async function startKafka(port: number, timeoutMs = 90000): Promise<boolean> {
  const broker = `127.0.0.1:${port}`;
  if (await kafkaReady(broker)) return false;
  if (await portOpen('127.0.0.1', port)) {
    throw new InfraError(`port ${port} is taken by a process that is not a Kafka broker; set KAFKA_BROKERS`);
  }
  if (runningPid(KAFKA_PROCESS) !== undefined) {
    throw new InfraError('a Kafka started earlier is still starting or hung; run npm run infra:down');
  }
  requireCommand('java', 'install a Java 17 runtime (apt-get install openjdk-17-jre-headless)');
  const classpath = serverClasspath('kafka');
  const controllerPort = port + 1;
  if (await portOpen('127.0.0.1', controllerPort)) {
    throw new InfraError(`port ${controllerPort} (Kafka controller) is taken by another process`);
  }
  const dir = join(dataDir(), 'kafka');
  const logDirs = join(dir, 'logs');
  const props = join(dir, 'server.properties');
  mkdirSync(logDirs, { recursive: true });
  writeFileSync(
    props,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.bootstrap.servers=127.0.0.1:${controllerPort}`,
      `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=PLAINTEXT',
      'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
      `log.dirs=${logDirs}`,
      'num.partitions=1',
      'num.network.threads=2',
      'num.io.threads=4',
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=8',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'transaction.state.log.num.partitions=4',
      'share.coordinator.state.topic.replication.factor=1',
      'share.coordinator.state.topic.min.isr=1',
      'group.initial.rebalance.delay.ms=0',
      'auto.create.topics.enable=false',
      'delete.topic.enable=true',
      'log.retention.hours=24',
      'log.segment.bytes=67108864',
      'log.cleaner.dedupe.buffer.size=16777216',
      '',
    ].join('\n'),
  );
  if (!existsSync(join(logDirs, 'meta.properties'))) {
    const format = spawnSync(
      'java',
      [
        '-Xmx256m',
        '-cp',
        classpath,
        'kafka.tools.StorageTool',
        'format',
        '-t',
        clusterId(),
        '-c',
        props,
        '--standalone',
      ],
      { encoding: 'utf8' },
    );
    if (format.status !== 0) {
      throw new InfraError(`kafka storage format failed:\n${(format.stdout + format.stderr).slice(-2000)}`);
    }
  }
  spawnJava(KAFKA_PROCESS, [
    `-Xms${heap()}`,
    `-Xmx${heap()}`,
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    '-Djava.awt.headless=true',
    '-cp',
    classpath,
    'kafka.Kafka',
    props,
  ]);
  try {
    await waitFor(`Kafka on ${broker}`, () => kafkaReady(broker), timeoutMs, KAFKA_PROCESS);
  } catch (err) {
    throw new InfraError(`${(err as Error).message}; log tail:\n${logTail(KAFKA_PROCESS)}`);
  }
  return true;
}

/**
 * A KRaft cluster id: 16 random bytes, base64url without padding (22 characters). Like Kafka's
 * own `Uuid.randomUuid()`, it never starts with `-`: `kafka-storage format -t -Abc…` reads such
 * an id as an option and fails with "argument --cluster-id/-t: expected one argument" (one fresh
 * start in 64 did, before this rule).
 */
export function clusterId(random: () => string = randomUUID): string {
  for (;;) {
    const id = Buffer.from(random().replaceAll('-', ''), 'hex').toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}
