/** gen/ is what `buf generate` writes from proto/ now; a stale gen/ fails here. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/infra/paths.js';

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

describe('gen/', () => {
  it('matches buf generate output', () => {
    const out = mkdtempSync(join(tmpdir(), 'gen-'));
    try {
      execFileSync(join(PROJECT_ROOT, 'node_modules', '.bin', 'buf'), ['generate', '--output', out], {
        cwd: PROJECT_ROOT,
        stdio: 'pipe',
      });
      const fresh = join(out, 'gen');
      const committed = join(PROJECT_ROOT, 'gen');
      expect(files(committed)).toEqual(files(fresh));
      for (const f of files(fresh)) {
        expect(readFileSync(join(committed, f), 'utf8'), `gen/${f} is stale: run npm run generate`).toBe(
          readFileSync(join(fresh, f), 'utf8'),
        );
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('proto/ passes buf lint (STANDARD rules)', () => {
    execFileSync(join(PROJECT_ROOT, 'node_modules', '.bin', 'buf'), ['lint'], {
      cwd: PROJECT_ROOT,
      stdio: 'pipe',
    });
  });
});
