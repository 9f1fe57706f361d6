/**
 * Scenario 7 (`components`): the discovery and writer benchmarks of their own issues
 * (bench/discovery.ts runDiscoveryBench, bench/writer.ts runWriterBench), collected into the
 * same report. A module that is not there yet is recorded as missing.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PROJECT_ROOT } from '../../src/infra/paths.js';
import { type BenchConfig, writeResult } from './common.js';

type Log = (line: string) => void;

async function load<T>(file: string, name: string): Promise<T | undefined> {
  const path = join(PROJECT_ROOT, 'bench', file);
  if (!existsSync(path)) return undefined;
  const module = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  return module[name] as T | undefined;
}

/** Runs the discovery and writer benchmarks; each writes bench/results/<name>.json. */
export async function runComponents(config: BenchConfig, log: Log): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const discovery = await load<(o: { durationMs: number; rate: number }) => Promise<unknown>>(
    'discovery.ts',
    'runDiscoveryBench',
  );
  if (discovery) {
    const durationMs = Number(process.env.BENCH_DISCOVERY_MS ?? config.durationMs);
    const rate = Number(process.env.BENCH_DISCOVERY_RATE ?? 5000);
    log(`components: discovery at ${rate} RPC/s for ${durationMs} ms`);
    out.discovery = await discovery({ durationMs, rate });
    await writeResult(config, 'discovery', out.discovery as Record<string, unknown>);
  } else {
    log('components: bench/discovery.ts is not there yet');
  }
  const writer = await load<(o: { rows: number }) => Promise<unknown>>('writer.ts', 'runWriterBench');
  if (writer) {
    const rows = Number(process.env.BENCH_WRITER_ROWS ?? 100000);
    log(`components: writer with ${rows} rows`);
    out.writer = await writer({ rows });
    await writeResult(config, 'writer', out.writer as Record<string, unknown>);
  } else {
    log('components: bench/writer.ts is not there yet');
  }
  return out;
}
