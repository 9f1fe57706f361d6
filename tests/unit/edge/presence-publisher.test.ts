import type { Message } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { createPresencePublisher } from '../../../src/edge/presence-publisher.js';
import { decodePresenceEvent, msOf } from '../../../src/shared/codec.js';

function publisher() {
  const sent: Message[] = [];
  const p = createPresencePublisher({
    serverId: 's1',
    topic: 'presence',
    send: async (_topic, message) => {
      sent.push(message);
    },
    flushMs: 60_000,
  });
  const events = () => sent.map((m) => ({ key: String(m.key), ...decodePresenceEvent(m.value as Buffer) }));
  return { p, events, sent };
}

describe('presence publisher', () => {
  it('publishes online on the first session only, offline on the last close, and advanced read cursors', async () => {
    const { p, events } = publisher();
    p.sessionOpened('bob');
    p.sessionOpened('bob');
    await p.flush();
    p.heartbeat('bob', 0);
    await p.flush();
    expect(events()).toHaveLength(1);
    expect(events()[0]).toMatchObject({
      key: 'bob/s1',
      serverId: 's1',
      sessions: 2,
      presence: { userId: 'bob', online: true },
    });
    p.heartbeat('bob', 5000);
    p.heartbeat('bob', 4000);
    await p.flush();
    expect(msOf(events()[1]!.presence?.lastReadTimestamp)).toBe(5000);
    p.sessionClosed('bob');
    await p.flush();
    expect(events()).toHaveLength(2);
    p.sessionClosed('bob');
    await p.flush();
    expect(events()[2]).toMatchObject({ sessions: 0, presence: { online: false } });
    p.stop();
  });

  it('offlineAll publishes everyone offline', async () => {
    const { p, events } = publisher();
    p.sessionOpened('a');
    p.sessionOpened('b');
    await p.flush();
    await p.offlineAll();
    expect(
      events()
        .slice(2)
        .map((e) => [e.presence?.userId, e.presence?.online]),
    ).toEqual([
      ['a', false],
      ['b', false],
    ]);
    p.stop();
  });
});
