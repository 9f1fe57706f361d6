/**
 * Runs the services of the stack as child processes (node --import tsx <main.ts>), streams their
 * output with the process name on each line, and stops them: SIGTERM (chat servers drain), then
 * SIGKILL after a grace period.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { PROJECT_ROOT } from '../infra/paths.js';
import { formatLine } from './log-lines.js';

/** A started service. */
export interface Service {
  name: string;
  child: ChildProcess;
  /** Resolves when a stdout line matches (e.g. "edge ready"); rejects if the process exits first. */
  ready: Promise<string>;
}

/** Options of {@link startService}. */
export interface ServiceSpec {
  name: string;
  /** Entry file relative to the project root, e.g. src/edge/main.ts. */
  entry: string;
  env: NodeJS.ProcessEnv;
  /** A stdout line that means "ready". */
  readyPattern: RegExp;
  /** Where formatted lines go. Default console.log. */
  print?: (line: string) => void;
}

/** Spawns one service. */
export function startService(spec: ServiceSpec): Service {
  const print = spec.print ?? ((line: string) => console.log(line));
  const child = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, spec.entry)], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...spec.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const ready = new Promise<string>((resolve, reject) => {
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => {
        print(formatLine(spec.name, line));
        if (spec.readyPattern.test(line)) resolve(line);
      });
    }
    child.once('exit', (code, signal) => {
      const how = signal ?? `code ${code}`;
      print(formatLine(spec.name, `exited (${how})`));
      reject(new Error(`${spec.name} exited (${how}) before it was ready`));
    });
  });
  ready.catch(() => {});
  return { name: spec.name, child, ready };
}

/** Stops services: SIGTERM to all at once, SIGKILL to any still running after graceMs. */
export async function stopServices(services: Service[], graceMs = 12000): Promise<void> {
  await Promise.all(
    services.map(
      (s) =>
        new Promise<void>((resolve) => {
          if (s.child.exitCode !== null || s.child.signalCode !== null) return resolve();
          const timer = setTimeout(() => s.child.kill('SIGKILL'), graceMs);
          s.child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          s.child.kill('SIGTERM');
        }),
    ),
  );
}
