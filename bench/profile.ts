/**
 * `npx tsx bench/profile.ts [rate] [seconds]`: where a chat server's time goes. Starts our system
 * (2 chat servers under the V8 CPU profiler (`node --cpu-prof` equivalent, see harness/cpu-profile.mjs), writer, Kafka, PostgreSQL), offers a fixed load, stops
 * the chat servers (the profile is written on exit) and writes a summary of the profiles (self
 * time by function and by package) to bench/results/profile.md, which the report includes.
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../src/infra/paths.js';
import { runGenerators } from './harness/run-generators.js';
import { describe, readBenchConfig, runId } from './scenarios/common.js';
import { startOurSystem } from './scenarios/system.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time by function and by package of one or more .cpuprofile files. */
export function summarizeProfiles(
  files: string[],
  top = 25,
): { total: number; functions: Array<[string, number]>; packages: Array<[string, number]> } {
  const byFunction = new Map<string, number>();
  const byPackage = new Map<string, number>();
  let total = 0;
  for (const file of files) {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
    profile.samples.forEach((id, i) => {
      const dt = profile.timeDeltas[i] ?? 0;
      const frame = nodes.get(id)?.callFrame;
      if (!frame) return;
      total += dt;
      const url = frame.url.replace(/^file:\/\//, '').replace(/^.*\/work\/main\//, '');
      const fn =
        `${frame.functionName || '(anonymous)'} ${url ? `${url}:${frame.lineNumber + 1}` : ''}`.trim();
      byFunction.set(fn, (byFunction.get(fn) ?? 0) + dt);
      const pkg =
        /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1] ??
        (url.startsWith('src/') || url.startsWith('gen/')
          ? url.split('/').slice(0, 2).join('/')
          : url.startsWith('node:')
            ? 'node (core)'
            : frame.functionName.startsWith('(')
              ? frame.functionName
              : url || '(native)');
      byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + dt);
    });
  }
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top);
  return { total, functions: sorted(byFunction), packages: sorted(byPackage) };
}

async function main(): Promise<void> {
  const rate = Number(process.argv[2] ?? 2000);
  const seconds = Number(process.argv[3] ?? 20);
  const config = readBenchConfig();
  const dir = mkdtempSync(join(tmpdir(), 'edge-prof-'));
  const id = runId();
  const system = await startOurSystem({
    runId: id,
    edges: 2,
    writer: true,
    discovery: false,
    edgeEnv: {
      NODE_OPTIONS: `--import ${join(PROJECT_ROOT, 'bench', 'harness', 'cpu-profile.mjs')}`,
      CPU_PROF_DIR: dir,
    },
  });
  let line = '';
  try {
    const r = await runGenerators({
      transport: system.transport,
      load: {
        prefix: `${id}-p`,
        users: config.users,
        servers: 2,
        rate,
        warmupMs: 2000,
        durationMs: seconds * 1000,
        drainMs: 3000,
        bodyBytes: config.bodyBytes,
        connectConcurrency: 50,
      },
      watch: system.watch,
    });
    line = describe(r);
    console.log(line);
  } finally {
    await system.stop();
  }
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(dir, f));
  const s = summarizeProfiles(files);
  const pct = (v: number) => `${Math.round((v / s.total) * 1000) / 10}%`;
  const md = [
    `Profile of both chat servers (\`node --cpu-prof\`, ${files.length} profiles) under ${rate} msg/s for ${seconds} s with ${config.users} users (\`npx tsx bench/profile.ts ${rate} ${seconds}\`). The run: ${line}.`,
    '',
    'Self time by package (share of all samples, idle included):',
    '',
    '| package | self time |',
    '| :-- | ---: |',
    ...s.packages.map(([k, v]) => `| ${k} | ${pct(v)} |`),
    '',
    'Top functions by self time:',
    '',
    '| function | self time |',
    '| :-- | ---: |',
    ...s.functions.map(([k, v]) => `| \`${k.replace(/\|/g, '\\|')}\` | ${pct(v)} |`),
    '',
  ];
  await writeFile(join(config.resultsDir, 'profile.md'), md.join('\n'));
  console.log(md.join('\n'));
}

if (process.argv[1]?.endsWith('profile.ts')) await main();
