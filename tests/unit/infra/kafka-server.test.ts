import { describe, expect, it } from 'vitest';
import { clusterId } from '../../../src/infra/kafka-server.js';

describe('clusterId', () => {
  it('is 16 bytes in base64url without padding', () => {
    const id = clusterId();
    expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(Buffer.from(id, 'base64url')).toHaveLength(16);
  });

  it('never starts with "-", which kafka-storage would read as an option', () => {
    // 0xf8.. encodes to "-" first (base64url index 62); the generator must draw again.
    const draws = ['f8000000-0000-4000-8000-000000000000', '01000000-0000-4000-8000-000000000000'];
    const id = clusterId(() => draws.shift() as string);
    expect(id).toBe('AQAAAAAAQACAAAAAAAAAAA');
    expect(draws).toHaveLength(0);
  });

  it('holds over many random draws (one in 64 started with "-" before)', () => {
    for (let i = 0; i < 5_000; i++) expect(clusterId().startsWith('-')).toBe(false);
  });
});
