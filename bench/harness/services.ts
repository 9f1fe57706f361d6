/**
 * Servers under test as child processes, started the way `npm start` starts them
 * (src/stack/supervisor.ts), with their output kept quiet unless BENCH_VERBOSE=1 (the last lines
 * are shown when one fails to start).
 */
import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';
import { type Service, startService, stopServices } from '../../src/stack/supervisor.js';
import type { WatchedProcess } from './proc-stats.js';

const running = new Set<Service>();

/** Sets the nice value of every thread of a process (Linux applies setpriority to one thread only). */
export function setProcessNice(pid: number, nice: number): void {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return;
  }
  for (const tid of tids) {
    try {
      setPriority(Number(tid), nice);
    } catch {
      // Not permitted or gone: leave it.
    }
  }
}

/**
 * BENCH_NICE (e.g. -10, default 0): the scheduling priority of the processes the bench starts
 * (servers under test and generators), all their threads. On a machine shared with other
 * work, a negative value keeps that work from stealing the cores mid-measurement.
 */
export function raisePriority(pid: number | undefined): void {
  const nice = Number(process.env.BENCH_NICE ?? 0);
  if (pid && nice) setProcessNice(pid, nice);
}

/** SIGKILLs every server still running (the runner's SIGINT/SIGTERM handler; never leave servers behind). */
export function killAllBenchServices(): void {
  for (const s of running)
    if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
  running.clear();
}

/** A started server. */
export interface BenchService {
  service: Service;
  /** The line that matched the ready pattern. */
  readyLine: string;
}

/** Starts a TypeScript entry as a child process and waits for its ready line. */
export async function startBenchService(
  name: string,
  entry: string,
  env: NodeJS.ProcessEnv,
  readyPattern: RegExp,
  timeoutMs = 60000,
): Promise<BenchService> {
  const tail: string[] = [];
  const verbose = process.env.BENCH_VERBOSE === '1';
  const service = startService({
    name,
    entry,
    env,
    readyPattern,
    print: (line) => {
      if (verbose) console.log(line);
      tail.push(line);
      if (tail.length > 40) tail.shift();
    },
  });
  running.add(service);
  raisePriority(service.child.pid);
  service.child.once('exit', () => running.delete(service));
  let timer: NodeJS.Timeout | undefined;
  try {
    const readyLine = await Promise.race([
      service.ready,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${name}: not ready after ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    // Threads started after the first call (V8 and libuv workers) get the priority too.
    raisePriority(service.child.pid);
    return { service, readyLine };
  } catch (err) {
    service.child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\n${tail.join('\n')}`);
  } finally {
    clearTimeout(timer);
  }
}

/** Stops services (SIGTERM, then SIGKILL after graceMs). */
export async function stopBenchServices(services: BenchService[], graceMs = 12000): Promise<void> {
  await stopServices(
    services.map((s) => s.service),
    graceMs,
  );
}

/** The services as sampled processes. */
export function watched(services: BenchService[]): WatchedProcess[] {
  return services.map((s) => ({
    name: s.service.name,
    pids: () => (s.service.child.pid ? [s.service.child.pid] : []),
  }));
}

/** The last whitespace-separated word of a ready line ("relay ready ws://..." -> the URL). */
export function lastWord(line: string): string {
  return line.trim().split(/\s+/).at(-1) ?? '';
}
