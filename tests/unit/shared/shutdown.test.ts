import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/shared/logger.js';
import { onShutdown } from '../../../src/shared/shutdown.js';

const logger = createLogger({ name: 'test', level: 'silent' });
const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

describe('onShutdown', () => {
  it('closes once however many signals come, then exits 0', async () => {
    const codes: number[] = [];
    let closes = 0;
    const shutdown = onShutdown(
      logger,
      async () => {
        closes++;
        await tick(5);
      },
      { signals: [], exit: (code) => codes.push(code) },
    );
    shutdown('SIGTERM');
    shutdown('SIGINT');
    await tick(20);
    expect(closes).toBe(1);
    expect(codes).toEqual([0]);
  });

  it('exits 1 when close fails', async () => {
    const codes: number[] = [];
    onShutdown(logger, async () => Promise.reject(new Error('stuck producer')), {
      signals: [],
      exit: (code) => codes.push(code),
    })('SIGTERM');
    await tick(5);
    expect(codes).toEqual([1]);
  });

  it('exits 1 after hardStopMs when close hangs', async () => {
    const codes: number[] = [];
    onShutdown(logger, () => new Promise<void>(() => {}), {
      signals: [],
      hardStopMs: 10,
      exit: (code) => codes.push(code),
    })('SIGTERM');
    await tick(2);
    expect(codes).toEqual([]);
    await tick(40);
    expect(codes).toEqual([1]);
  });
});
