/**
 * Private Kafka / ZooKeeper servers for the tests that kill or restart them: started from the
 * project's jars (src/infra) in a child process with a temporary CHAT_DATA_DIR and free ports,
 * so the shared servers other tests use are never touched. Stopped (SIGKILL by pid) and deleted
 * when the test finishes.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { PROJECT_ROOT } from '../../src/infra/paths.js';

/** A private server. */
export interface OwnServer {
  /** host:port to connect to. */
  readonly address: string;
  /** The server's pid (changes on restart). */
  pid(): number;
  /** Sends a signal to the server process (default SIGKILL) and waits until it is gone. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port with the same data. */
  start(): Promise<void>;
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/**
 * A port p with p and p+1 free (Kafka's controller listens on port+1). Drawn below Linux's
 * ephemeral range (32768 and up by default), so an outgoing connection cannot take the port
 * between this check and the server's bind.
 */
async function freePortPair(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if ((await portFree(port)) && (await portFree(port + 1))) return port;
  }
  throw new Error('no free port pair found');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Starts a private server of the kind; it is killed and its directory removed when the test ends. */
export async function startOwnServer(kind: 'kafka' | 'zookeeper'): Promise<OwnServer> {
  const dir = mkdtempSync(join(tmpdir(), `chat-${kind}-`));
  const port = await freePortPair();
  const pidFile = join(dir, `${kind}.pid`);
  const env = { ...process.env, CHAT_DATA_DIR: dir, KAFKA_HEAP: process.env.KAFKA_HEAP ?? '384m' };
  let pid = 0;
  const start = () =>
    new Promise<void>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          join(PROJECT_ROOT, 'tests/reliability/fixtures/start-server.ts'),
          kind,
          String(port),
        ],
        { cwd: PROJECT_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let output = '';
      child.stdout.on('data', (d) => {
        output += String(d);
      });
      child.stderr.on('data', (d) => {
        output += String(d);
      });
      child.once('exit', (code) => {
        if (code !== 0) return reject(new Error(`starting ${kind} failed (${code}): ${output.slice(-2000)}`));
        pid = Number(readFileSync(pidFile, 'utf8').trim());
        resolve();
      });
    });
  const server: OwnServer = {
    address: `127.0.0.1:${port}`,
    pid: () => pid,
    async kill(signal = 'SIGKILL') {
      if (!pid || !alive(pid)) return;
      process.kill(pid, signal);
      for (let i = 0; i < 300 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
    },
    start,
  };
  onTestFinished(async () => {
    await server.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  await start();
  return server;
}
