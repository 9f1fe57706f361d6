/** A single-node Apache ZooKeeper 3.9 server for development and tests. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
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

export const ZOOKEEPER_PROCESS = 'zookeeper';

/** Sends a four-letter command and returns the answer ('' on failure). */
export function fourLetter(host: string, port: number, command: string, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    let answer = '';
    socket.setTimeout(timeoutMs, () => socket.destroy());
    socket.on('connect', () => socket.write(command));
    socket.on('data', (chunk) => {
      answer += chunk.toString();
    });
    socket.on('close', () => resolve(answer));
    socket.on('error', () => resolve(''));
  });
}

/** True when a ZooKeeper server answers `ruok` on host:port. */
export async function zookeeperReady(host: string, port: number): Promise<boolean> {
  return (await fourLetter(host, port, 'ruok')) === 'imok';
}

/** Starts ZooKeeper on 127.0.0.1:port unless it already answers; returns true if started here. */
export async function startZooKeeper(port: number, timeoutMs = 60000): Promise<boolean> {
  if (await zookeeperReady('127.0.0.1', port)) return false;
  if (await portOpen('127.0.0.1', port)) {
    throw new InfraError(`port ${port} is taken by a process that is not ZooKeeper; set ZOOKEEPER_CONNECT`);
  }
  if (runningPid(ZOOKEEPER_PROCESS) !== undefined) {
    throw new InfraError(`a ZooKeeper started earlier is still starting or hung; run npm run infra:down`);
  }
  requireCommand('java', 'install a Java 17 runtime (apt-get install openjdk-17-jre-headless)');
  const classpath = serverClasspath('zookeeper');
  const dir = join(dataDir(), 'zookeeper');
  mkdirSync(join(dir, 'data'), { recursive: true });
  const cfg = join(dir, 'zoo.cfg');
  writeFileSync(
    cfg,
    [
      'tickTime=500',
      'minSessionTimeout=1000',
      'maxSessionTimeout=60000',
      `dataDir=${join(dir, 'data')}`,
      `clientPort=${port}`,
      'clientPortAddress=127.0.0.1',
      'maxClientCnxns=0',
      '4lw.commands.whitelist=ruok,srvr,stat,mntr,cons',
      'admin.enableServer=false',
      'autopurge.snapRetainCount=3',
      'autopurge.purgeInterval=1',
      '',
    ].join('\n'),
  );
  spawnJava(ZOOKEEPER_PROCESS, [
    '-Xms64m',
    '-Xmx256m',
    '-XX:+UseSerialGC',
    '-Dzookeeper.admin.enableServer=false',
    '-Dzookeeper.4lw.commands.whitelist=*',
    '-cp',
    classpath,
    'org.apache.zookeeper.server.ZooKeeperServerMain',
    cfg,
  ]);
  try {
    await waitFor(
      `ZooKeeper on 127.0.0.1:${port}`,
      () => zookeeperReady('127.0.0.1', port),
      timeoutMs,
      ZOOKEEPER_PROCESS,
    );
  } catch (err) {
    throw new InfraError(`${(err as Error).message}; log tail:\n${logTail(ZOOKEEPER_PROCESS)}`);
  }
  return true;
}
