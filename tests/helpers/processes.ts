/**
 * Fault helpers: run a TypeScript entry point as a real child process (node --import tsx, so
 * the pid is the process itself and SIGKILL/SIGSTOP reach it), wait for a line, and make sure
 * it is gone when the test ends.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { PROJECT_ROOT } from '../../src/infra/paths.js';

/** A child process running a project TypeScript file. */
export interface TsProcess {
  child: ChildProcess;
  /** Everything printed to stdout so far. */
  output(): string;
  /** Resolves when stdout contains the text (or rejects when the process exits first). */
  waitFor(text: string | RegExp, timeoutMs?: number): Promise<void>;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): void;
}

/** Spawns `node --import tsx <file> ...args`; killed with SIGKILL when the test finishes. */
export function spawnTs(file: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): TsProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, file), ...args], {
    cwd: PROJECT_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let out = '';
  child.stdout!.on('data', (d) => {
    out += String(d);
  });
  let err = '';
  child.stderr!.on('data', (d) => {
    err += String(d);
  });
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1));
  });
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    }
  });
  return {
    child,
    output: () => out,
    exited,
    kill: (signal = 'SIGKILL') => child.kill(signal),
    waitFor(text, timeoutMs = 30000) {
      const has = () => (typeof text === 'string' ? out.includes(text) : text.test(out));
      return new Promise<void>((resolve, reject) => {
        if (has()) return resolve();
        const timer = setTimeout(() => {
          cleanup();
          reject(
            new Error(
              `timed out waiting for ${text}; stdout: ${out.slice(-500)}; stderr: ${err.slice(-1000)}`,
            ),
          );
        }, timeoutMs);
        const onData = () => {
          if (has()) {
            cleanup();
            resolve();
          }
        };
        const onExit = (code: number | null) => {
          cleanup();
          reject(new Error(`process exited (${code}) before printing ${text}; stderr: ${err.slice(-1000)}`));
        };
        const cleanup = () => {
          clearTimeout(timer);
          child.stdout!.off('data', onData);
          child.off('exit', onExit);
        };
        child.stdout!.on('data', onData);
        child.once('exit', onExit);
      });
    },
  };
}
