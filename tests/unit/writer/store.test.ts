/** Which database errors are the data's fault (isolate the row) and which are transient (retry). */
import { describe, expect, it } from 'vitest';
import { isDataError } from '../../../src/writer/store.js';

describe('isDataError', () => {
  it('is true for data exceptions, integrity violations and limits, false for the rest', () => {
    expect(isDataError({ code: '22021' })).toBe(true); // invalid byte sequence
    expect(isDataError({ code: '23502' })).toBe(true); // not null violation
    expect(isDataError({ code: '54000' })).toBe(true); // index row too large
    expect(isDataError({ code: '57P01' })).toBe(false); // admin shutdown
    expect(isDataError({ code: '40P01' })).toBe(false); // deadlock
    expect(isDataError(new Error('Connection terminated unexpectedly'))).toBe(false);
    expect(isDataError(null)).toBe(false);
  });
});
