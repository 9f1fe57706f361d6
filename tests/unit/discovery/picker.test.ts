/** Least-loaded choice: published counts plus own assignments, draining skipped, ties random. */
import { create } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { ChatServerSchema } from '../../../gen/chat/v1/discovery_pb.js';
import { ServerTable } from '../../../src/discovery/picker.js';

function server(id: string, connections: number, draining = false) {
  return create(ChatServerSchema, { id, wsUrl: `ws://${id}/ws`, connections, draining });
}

function tally(table: ServerTable, n: number, random?: () => number): Record<string, number> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const id = table.pick(random)!.id;
    counts[id] = (counts[id] ?? 0) + 1;
  }
  return counts;
}

describe('ServerTable.pick', () => {
  it('answers undefined when no server can be handed out', () => {
    const table = new ServerTable();
    expect(table.pick()).toBeUndefined();
    table.set(server('a', 0, true));
    expect(table.pick()).toBeUndefined();
  });

  it('picks the least loaded, never a draining one', () => {
    const table = new ServerTable();
    table.set(server('a', 50));
    table.set(server('b', 10));
    table.set(server('c', 0, true));
    table.set(server('d', 30));
    expect(table.pick()!.id).toBe('b');
  });

  it('counts its own assignments until a new count arrives, then starts over from that count', () => {
    const table = new ServerTable();
    table.set(server('a', 10));
    table.set(server('b', 0));
    // b takes the next ten; then both are at 10 and they alternate.
    expect(tally(table, 10)).toEqual({ b: 10 });
    expect(tally(table, 20)).toEqual({ a: 10, b: 10 });
    // b publishes 100 (its clients arrived, and more): a gets everything until it reaches 100.
    table.set(server('b', 100));
    expect(tally(table, 80)).toEqual({ a: 80 });
  });

  it('spreads a burst over equally loaded servers evenly', () => {
    const table = new ServerTable();
    for (const id of ['a', 'b', 'c']) table.set(server(id, 0));
    expect(tally(table, 3000)).toEqual({ a: 1000, b: 1000, c: 1000 });
  });

  it('breaks ties at random, each tied server equally likely', () => {
    const firsts: Record<string, number> = {};
    for (let i = 0; i < 3000; i++) {
      const table = new ServerTable();
      for (const id of ['a', 'b', 'c']) table.set(server(id, 5));
      const id = table.pick()!.id;
      firsts[id] = (firsts[id] ?? 0) + 1;
    }
    for (const id of ['a', 'b', 'c']) expect(firsts[id]).toBeGreaterThan(850);
  });

  it('lists every server, draining included, by id, and forgets removed ones', () => {
    const table = new ServerTable();
    table.set(server('b', 1, true));
    table.set(server('a', 2));
    expect(table.servers().map((s) => s.id)).toEqual(['a', 'b']);
    table.remove('a');
    expect(table.servers().map((s) => s.id)).toEqual(['b']);
    expect(table.has('a')).toBe(false);
  });
});
