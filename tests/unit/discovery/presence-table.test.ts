/** Presence per user from per-server events: online only via live servers, latest timestamps. */
import { create, toBinary } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { describe, expect, it } from 'vitest';
import { PresenceEventSchema } from '../../../gen/chat/v1/presence_pb.js';
import { PresenceTable } from '../../../src/discovery/presence-view.js';
import { msOf, presenceKey } from '../../../src/shared/codec.js';

function event(user: string, serverId: string, online: boolean, seenMs: number, readMs: number) {
  return toBinary(
    PresenceEventSchema,
    create(PresenceEventSchema, {
      serverId,
      sessions: online ? 1 : 0,
      presence: {
        userId: user,
        online,
        lastSeenAt: timestampFromMs(seenMs),
        lastReadTimestamp: timestampFromMs(readMs),
      },
    }),
  );
}

describe('PresenceTable', () => {
  it('is online while a live server says so; timestamps are the latest over all servers', () => {
    const table = new PresenceTable();
    table.apply(presenceKey('al/ice', 's1'), event('al/ice', 's1', true, 1000, 500));
    table.apply(presenceKey('al/ice', 's2'), event('al/ice', 's2', false, 3000, 200));
    const live = new Set(['s1', 's2']);
    const p = table.get('al/ice', (id) => live.has(id));
    expect(p.online).toBe(true);
    expect(p.userId).toBe('al/ice');
    expect(msOf(p.lastSeenAt)).toBe(3000);
    expect(msOf(p.lastReadTimestamp)).toBe(500);
    // s1 died: its last word no longer keeps the user online.
    live.delete('s1');
    expect(table.get('al/ice', (id) => live.has(id)).online).toBe(false);
  });

  it('keeps the latest event per server and forgets a pair on a tombstone', () => {
    const table = new PresenceTable();
    const live = () => true;
    table.apply(presenceKey('bob', 's1'), event('bob', 's1', true, 1000, 0));
    table.apply(presenceKey('bob', 's1'), event('bob', 's1', false, 2000, 0));
    expect(table.get('bob', live).online).toBe(false);
    table.apply(presenceKey('bob', 's1'), null);
    const gone = table.get('bob', live);
    expect(gone.online).toBe(false);
    expect(gone.lastSeenAt).toBeUndefined();
  });

  it('answers unknown users offline and skips malformed records', () => {
    const table = new PresenceTable();
    table.apply('no-slash', event('x', 's1', true, 1, 1));
    table.apply(presenceKey('x', 's1'), new Uint8Array([0xff, 0xff, 0xff]));
    const p = table.get('x', () => true);
    expect(p.online).toBe(false);
    expect(p.lastSeenAt).toBeUndefined();
  });
});
