/**
 * Catch-up against the real writer: stored messages first, in order, none twice, then ONE
 * CatchUpDone, then live - including messages produced but not yet stored when the user
 * connected, and under a live buffer overflow.
 */
import { sql } from 'kysely';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { ChatMessage } from '../../../gen/chat/v1/message_pb.js';
import { msOf } from '../../../src/shared/codec.js';
import { openDatabase } from '../../../src/shared/db/database.js';
import { startEdges } from '../../helpers/edge-system.js';
import { infra, unique } from '../../helpers/infra.js';
import { connectWs, type TestWsClient } from '../../helpers/ws-client.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function acks(
  c: TestWsClient,
  prefix = '',
): { clientMessageId: string; messageId: string; sentAtMs: number }[] {
  return c.frames.flatMap((f) =>
    f.frame.case === 'sendAck' && f.frame.value.clientMessageId.startsWith(prefix)
      ? [{ ...f.frame.value, sentAtMs: msOf(f.frame.value.sentAt) }]
      : [],
  );
}

/** Sends `count` messages and waits for every SendAck. */
async function sendAll(c: TestWsClient, to: string, prefix: string, count: number): Promise<string[]> {
  for (let i = 0; i < count; i++) c.sendMessage(to, `${prefix}${i}`, `${prefix}${i}`);
  await c.until(() => acks(c, prefix).length === count, 15000, `${count} acks`);
  return acks(c, prefix).map((a) => a.messageId);
}

/** Frames up to and including CatchUpDone; asserts exactly one CatchUpDone and what precedes it. */
function splitAtCatchUpDone(c: TestWsClient): {
  before: ChatMessage[];
  after: ChatMessage[];
  delivered: number;
} {
  const idx = c.frames.findIndex((f) => f.frame.case === 'catchUpDone');
  expect(idx).toBeGreaterThan(0);
  expect(c.frames.filter((f) => f.frame.case === 'catchUpDone')).toHaveLength(1);
  const done = c.frames[idx]!.frame.value as { delivered: number };
  const msgs = (from: number, to: number) =>
    c.frames.slice(from, to).flatMap((f) => (f.frame.case === 'message' ? [f.frame.value] : []));
  return { before: msgs(0, idx), after: msgs(idx + 1, c.frames.length), delivered: done.delivered };
}

function expectNoDuplicates(ids: string[]): void {
  expect(new Set(ids).size).toBe(ids.length);
}

describe('catch-up', () => {
  it('an offline user gets the backlog in order (paged), none twice, then CatchUpDone, then live', async () => {
    const sys = await startEdges({ edges: 2, edge: { catchUpPageSize: 7 } });
    const [a, b] = sys.edges as [(typeof sys.edges)[0], (typeof sys.edges)[0]];
    const alice = unique('alice');
    const carol = unique('carol');
    const bob = unique('bob');
    const ca = await connectWs(a.wsUrl, { token: await sys.token(alice), heartbeat: {} });
    const cc = await connectWs(b.wsUrl, { token: await sys.token(carol), heartbeat: {} });
    const fromAlice = await sendAll(ca, bob, 'a', 25);
    const fromCarol = await sendAll(cc, bob, 'c', 20);

    const cb = await connectWs(b.wsUrl, { token: await sys.token(bob), heartbeat: {} });
    await cb.next('catchUpDone');
    const { before, delivered } = splitAtCatchUpDone(cb);
    const ids = before.map((m) => m.messageId);
    expectNoDuplicates(ids);
    expect(new Set(ids)).toEqual(new Set([...fromAlice, ...fromCarol]));
    expect(delivered).toBe(45);
    // Oldest first: (sent_at, message_id) order; per sender exactly the send order.
    const keys = before.map((m) => [msOf(m.sentAt), m.messageId] as const);
    expect([...keys].sort((x, y) => x[0] - y[0] || (x[1] < y[1] ? -1 : 1))).toEqual(keys);
    expect(before.filter((m) => m.senderId === alice).map((m) => m.body)).toEqual(
      Array.from({ length: 25 }, (_, i) => `a${i}`),
    );

    ca.sendMessage(bob, 'live', 'live1');
    await cb.until(() => splitAtCatchUpDone(cb).after.length === 1);
    expect(splitAtCatchUpDone(cb).after[0]!.body).toBe('live');
  });

  it("the first Heartbeat's last_read_timestamp skips what was read; without one the stored cursor is used", async () => {
    const sys = await startEdges({ edge: { skewMs: 200 } });
    const [a] = sys.edges as [(typeof sys.edges)[0]];
    const alice = unique('alice');
    const bob = unique('bob');
    const dave = unique('dave');
    const ca = await connectWs(a.wsUrl, { token: await sys.token(alice), heartbeat: {} });
    await sendAll(ca, bob, 'old-b', 5);
    await sendAll(ca, dave, 'old-d', 5);
    await sleep(400);
    const cursor = Date.now();
    await sleep(400);
    const newForBob = await sendAll(ca, bob, 'new-b', 5);
    const newForDave = await sendAll(ca, dave, 'new-d', 5);

    const cb = await connectWs(a.wsUrl, { token: await sys.token(bob), heartbeat: { lastReadMs: cursor } });
    await cb.next('catchUpDone');
    expect(splitAtCatchUpDone(cb).before.map((m) => m.messageId)).toEqual(newForBob);

    // dave's stored cursor (read_state, as the writer keeps it) applies when no Heartbeat comes.
    const { db, close } = await openDatabase({ url: infra().databaseUrl, migrate: false });
    onTestFinished(close);
    await sql`insert into read_state (user_id, last_read_at) values (${dave}, ${new Date(cursor)})`.execute(
      db,
    );
    const cd = await connectWs(a.wsUrl, { token: await sys.token(dave) });
    await cd.next('catchUpDone');
    expect(splitAtCatchUpDone(cd).before.map((m) => m.messageId)).toEqual(newForDave);
  });

  it('messages sent while the recipient connects are neither lost nor doubled (20 races, 3 senders)', async () => {
    const sys = await startEdges({
      edges: 2,
      edge: { sendRatePerSecond: 10000, sendBurst: 10000, skewMs: 1000 },
    });
    const [a, b] = sys.edges as [(typeof sys.edges)[0], (typeof sys.edges)[0]];
    const senders = await Promise.all(
      ['s1', 's2', 's3'].map(async (name, i) => {
        const user = unique(name);
        const c = await connectWs((i % 2 ? b : a).wsUrl, { token: await sys.token(user), heartbeat: {} });
        await c.next('catchUpDone');
        return { user, c };
      }),
    );
    for (let round = 0; round < 20; round++) {
      const bob = unique(`bob${round}`);
      let n = 0;
      const timer = setInterval(() => {
        for (const s of senders) s.c.sendMessage(bob, `m${n}`, `${bob}-${n}`);
        n++;
      }, 3);
      await sleep(5 + ((round * 7) % 40));
      const cb = await connectWs((round % 2 ? a : b).wsUrl, { token: await sys.token(bob), heartbeat: {} });
      await cb.next('catchUpDone');
      await sleep(20 + ((round * 13) % 30));
      clearInterval(timer);
      const sent = n * senders.length;
      const acked = () => senders.flatMap((s) => acks(s.c, bob).map((x) => x.messageId));
      await Promise.all(senders.map((s) => s.c.until(() => acks(s.c, bob).length === n, 15000, 'acks')));
      expect(acked()).toHaveLength(sent);
      await cb.until(() => cb.messages().length >= sent, 15000, `${sent} messages`);
      await sleep(100);
      const got = cb.messages().map((m) => m.messageId);
      expectNoDuplicates(got);
      expect(new Set(got)).toEqual(new Set(acked()));
      // Each sender's messages arrive in send order.
      for (const s of senders) {
        const bodies = cb
          .messages()
          .filter((m) => m.senderId === s.user)
          .map((m) => m.body);
        expect(bodies).toEqual(Array.from({ length: n }, (_, i) => `m${i}`));
      }
      splitAtCatchUpDone(cb);
      await cb.close();
    }
  });

  it('a live buffer overflow during catch-up re-reads from the database: still complete, no duplicates', async () => {
    const sys = await startEdges({
      edges: 1,
      edge: { sendRatePerSecond: 10000, sendBurst: 10000, catchUpPageSize: 5, catchUpBufferLimit: 3 },
    });
    const [a] = sys.edges as [(typeof sys.edges)[0]];
    const alice = unique('alice');
    const ca = await connectWs(a.wsUrl, { token: await sys.token(alice), heartbeat: {} });
    let rewound = false;
    for (let round = 0; round < 5 && !rewound; round++) {
      const bob = unique('bob');
      await sendAll(ca, bob, `${bob}-old`, 200);
      let n = 0;
      const timer = setInterval(() => {
        for (let k = 0; k < 2; k++) ca.sendMessage(bob, `l${n}`, `${bob}-l${n++}`);
      }, 3);
      const cb = await connectWs(a.wsUrl, { token: await sys.token(bob), heartbeat: {} });
      await cb.next('catchUpDone');
      await sleep(30);
      clearInterval(timer);
      await ca.until(() => acks(ca, `${bob}-l`).length === n, 15000, 'acks');
      await cb.until(() => cb.messages().length >= 200 + n, 15000, 'all messages');
      await sleep(100);
      const got = cb.messages().map((m) => m.messageId);
      expectNoDuplicates(got);
      expect(got).toHaveLength(200 + n);
      expect(cb.messages().map((m) => m.body)).toEqual([
        ...Array.from({ length: 200 }, (_, i) => `${bob}-old${i}`),
        ...Array.from({ length: n }, (_, i) => `l${i}`),
      ]);
      const metrics = await a.metrics.getSingleMetricAsString('chat_edge_catch_up_rewinds_total');
      rewound = !/ 0$/m.test(metrics.trim());
    }
    expect(rewound).toBe(true);
  });

  it('a backlog far larger than the socket bound is paced, not mistaken for a stalled reader', async () => {
    const sys = await startEdges({ edge: { maxBufferedBytes: 128 * 1024, catchUpPageSize: 200 } });
    const [a] = sys.edges as [(typeof sys.edges)[0]];
    const alice = unique('alice');
    const bob = unique('bob');
    const ca = await connectWs(a.wsUrl, { token: await sys.token(alice), heartbeat: {} });
    const big = 'y'.repeat(60 * 1024);
    for (let i = 0; i < 150; i++) ca.sendMessage(bob, `${i}|${big}`, `big${i}`);
    await ca.until(() => acks(ca).length === 150, 15000, '150 acks');
    const cb = await connectWs(a.wsUrl, { token: await sys.token(bob), heartbeat: {} });
    await cb.next('catchUpDone', 0, 20000);
    expect(cb.messages().map((m) => m.body.split('|')[0])).toEqual(
      Array.from({ length: 150 }, (_, i) => String(i)),
    );
  });
});
