/** The writer benchmark runs end to end on tiny numbers and reports all three rates (no speed asserted). */
import { describe, expect, it } from 'vitest';
import { runWriterBench } from '../../bench/writer.js';
import { infra } from '../helpers/infra.js';

describe('bench/writer.ts', () => {
  it('measures the writer, per-row INSERT and raw COPY on the same rows', async () => {
    const result = await runWriterBench({
      rows: 600,
      perRowSample: 50,
      partitions: 3,
      rounds: 2,
      kafkaBrokers: infra().kafkaBrokers,
      databaseUrl: infra().databaseUrl,
    });
    expect(result.rows).toBe(600);
    expect(result.writer.rows).toBe(600);
    expect(result.perRowInsert.rows).toBe(50);
    expect(result.rawCopy.rows).toBe(600);
    for (const m of [result.writer, result.perRowInsert, result.rawCopy])
      expect(m.rowsPerSecond).toBeGreaterThan(0);
    expect(result.ratios.writerVsPerRowInsert).toBeGreaterThan(0);
    expect(result.ratios.writerVsRawCopy).toBeGreaterThan(0);
    expect(Object.keys(result.aims)).toEqual([
      'atLeast20xPerRow',
      'atLeastHalfOfCopy',
      'atLeast30kRowsPerSecond',
    ]);
  });
});
