/**
 * `npm run infra:up` starts ZooKeeper and Kafka in the background and leaves them running (tests
 * and `npm start` then reuse them); `npm run infra:down [-- --wipe]` stops them and optionally
 * deletes their data.
 */
import { rmSync } from 'node:fs';
import { ensureInfra } from './infra.js';
import { KAFKA_PROCESS } from './kafka-server.js';
import { dataDir } from './paths.js';
import { stopProcess } from './processes.js';
import { ZOOKEEPER_PROCESS } from './zookeeper-server.js';

const command = process.argv[2];
try {
  if (command === 'up') {
    await ensureInfra({ log: (line) => console.log(line), keep: true });
  } else if (command === 'down') {
    const kafka = await stopProcess(KAFKA_PROCESS);
    const zk = await stopProcess(ZOOKEEPER_PROCESS);
    console.log(
      `kafka ${kafka ? 'stopped' : 'was not running'}; zookeeper ${zk ? 'stopped' : 'was not running'}`,
    );
    if (process.argv.includes('--wipe')) {
      rmSync(dataDir(), { recursive: true, force: true });
      console.log(`wiped ${dataDir()}`);
    }
  } else {
    console.error('usage: tsx src/infra/cli.ts up|down [--wipe]');
    process.exitCode = 2;
  }
} catch (err) {
  console.error(`infra: ${(err as Error).message}`);
  process.exitCode = 1;
}
