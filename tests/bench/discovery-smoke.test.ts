/** The discovery benchmark still runs end to end (tiny numbers; speed is not asserted here). */
import { describe, expect, it } from 'vitest';
import { runDiscoveryBench } from '../../bench/discovery.js';
import { infra } from '../helpers/infra.js';

describe('bench/discovery.ts', () => {
  it('measures GetChatServer and the no-op ceiling', async () => {
    const result = await runDiscoveryBench({
      durationMs: 300,
      rate: 200,
      concurrency: 4,
      zookeeperConnect: infra().zookeeperConnect,
    });
    expect(JSON.parse(JSON.stringify(result))).toEqual(result);
    for (const phase of [
      result.fixedRate.getChatServer,
      result.fixedRate.noop,
      result.saturation.getChatServer,
      result.saturation.noop,
    ]) {
      expect(phase.calls).toBeGreaterThan(0);
      expect(phase.errors).toBe(0);
      expect(phase.p99).toBeGreaterThan(0);
      expect(phase.rpcPerSecond).toBeGreaterThan(0);
    }
    expect(result.ratioToNoop).toBeGreaterThan(0);
  });
});
