import { describe, expect, it } from 'vitest';
import { SeenSet } from '../../../src/client/seen-set.js';

describe('SeenSet', () => {
  it('reports duplicates and forgets the oldest beyond capacity', () => {
    const seen = new SeenSet(3);
    expect(seen.add('a')).toBe(true);
    expect(seen.add('a')).toBe(false);
    seen.add('b');
    seen.add('c');
    seen.add('d');
    expect(seen.has('a')).toBe(false);
    expect(seen.has('d')).toBe(true);
    expect(seen.size).toBe(3);
  });
});
