import { describe, expect, it } from 'vitest';
import { formatLine } from '../../../src/stack/log-lines.js';

describe('formatLine', () => {
  it('prefixes plain lines with the process name', () => {
    expect(formatLine('edge-1', 'edge ready')).toBe('[edge-1]     edge ready');
  });

  it('turns pino JSON into time, level, message and fields', () => {
    const line = JSON.stringify({
      level: 40,
      time: Date.UTC(2026, 0, 1, 12, 0, 0, 5),
      msg: 'slow',
      pid: 1,
      ms: 12,
    });
    expect(formatLine('writer-1', line)).toBe('[writer-1]   12:00:00.005 WARN  slow  ms=12');
  });
});
