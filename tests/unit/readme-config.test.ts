import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/infra/paths.js';

/** Environment variables read by the shipped code (src/), by the ways it reads them. */
function variablesReadBySource(): Set<string> {
  const names = new Set<string>();
  const reads = [
    /\benv[A-Za-z]*\(\s*env,\s*'([A-Z][A-Z0-9_]+)'/g, // envInt(env, 'EDGE_PORT', ...)
    /\bprocess\.env\.([A-Z][A-Z0-9_]+)/g,
    /\benv\.([A-Z][A-Z0-9_]+)/g,
    /\benv\[\s*'([A-Z][A-Z0-9_]+)'\s*\]/g,
  ];
  const dir = join(PROJECT_ROOT, 'src');
  for (const file of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    if (!file.endsWith('.ts')) continue;
    const text = readFileSync(join(dir, file), 'utf8');
    for (const re of reads) for (const m of text.matchAll(re)) names.add(m[1]!);
  }
  // Set by vitest itself; the code only asks whether it runs under tests.
  names.delete('VITEST');
  return names;
}

/** Variable names in the first column of README's configuration table. */
function variablesInReadme(): Set<string> {
  const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8');
  const section = readme.split('## Configuration')[1]?.split('\n## ')[0] ?? '';
  const names = new Set<string>();
  for (const line of section.split('\n')) {
    const first = line.startsWith('| `') ? line.split('|')[1] : undefined;
    for (const m of first?.matchAll(/`([A-Z][A-Z0-9_]+)`/g) ?? []) names.add(m[1]!);
  }
  return names;
}

describe("README's configuration table", () => {
  it('names every environment variable the code reads', () => {
    const read = variablesReadBySource();
    expect(read.size).toBeGreaterThan(30); // the patterns still find the reads
    const documented = variablesInReadme();
    expect([...read].filter((v) => !documented.has(v)).sort()).toEqual([]);
  });

  it('names no variable the code does not read', () => {
    const read = variablesReadBySource();
    expect([...variablesInReadme()].filter((v) => !read.has(v)).sort()).toEqual([]);
  });
});
