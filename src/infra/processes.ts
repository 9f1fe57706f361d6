/**
 * Starting and stopping the Java servers as detached background processes with pid files, so
 * `npm run infra:down` can stop what an earlier run left behind.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { dataDir } from './paths.js';

/** An error that says exactly what is missing or wrong with the local infrastructure. */
export class InfraError extends Error {
  override readonly name = 'InfraError';
}

/** Throws an InfraError when a command is not on PATH. */
export function requireCommand(command: string, hint: string): void {
  const probe = spawnSync(command, ['-version'], { stdio: 'ignore' });
  if (probe.error) throw new InfraError(`${command} not found on PATH: ${hint}`);
}

function pidFile(name: string): string {
  return join(dataDir(), `${name}.pid`);
}

/** The pid recorded for a server, if its process is alive. */
export function runningPid(name: string): number | undefined {
  const file = pidFile(name);
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

/** Spawns a detached Java process, logging to .data/logs/<name>.log, and records its pid. */
export function spawnJava(name: string, args: string[], env: NodeJS.ProcessEnv = {}): number {
  const logs = join(dataDir(), 'logs');
  mkdirSync(logs, { recursive: true });
  const out = openSync(join(logs, `${name}.log`), 'a');
  const child = spawn('java', args, {
    detached: true,
    stdio: ['ignore', out, out],
    env: { ...process.env, ...env },
  });
  closeSync(out);
  child.unref();
  if (child.pid === undefined) throw new InfraError(`could not start ${name}: java did not spawn`);
  writeFileSync(pidFile(name), String(child.pid));
  return child.pid;
}

/** The last lines of a server's log, for error messages. */
export function logTail(name: string, lines = 15): string {
  const file = join(dataDir(), 'logs', `${name}.log`);
  if (!existsSync(file)) return '(no log)';
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

/** Stops a server started by {@link spawnJava}: SIGTERM, then SIGKILL after the grace period. */
export async function stopProcess(name: string, graceMs = 15000): Promise<boolean> {
  const pid = runningPid(name);
  rmSync(pidFile(name), { force: true });
  if (pid === undefined) return false;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return false;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    await sleep(100);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {}
  return true;
}

/** True when something accepts TCP connections on host:port. */
export function portOpen(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Polls `check` until it returns true or the timeout passes; with `processName`, fails at once
 * when that process has exited.
 */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  processName?: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    if (processName !== undefined && runningPid(processName) === undefined) {
      throw new InfraError(`${what} exited during start-up`);
    }
    await sleep(200);
  }
  throw new InfraError(`${what} was not ready within ${timeoutMs} ms`);
}
