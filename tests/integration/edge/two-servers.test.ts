/** Two chat servers, real Kafka/PostgreSQL/ZooKeeper: routing across servers, devices, order. */
import { describe, expect, it } from 'vitest';
import { startEdges } from '../../helpers/edge-system.js';
import { unique } from '../../helpers/infra.js';
import { connectWs } from '../../helpers/ws-client.js';

describe('chat server routing', () => {
  it('alice on A and bob on B exchange messages both ways, in order; acks come first; sender is the token', async () => {
    const sys = await startEdges({ edges: 2 });
    const [a, b] = sys.edges as [(typeof sys.edges)[0], (typeof sys.edges)[0]];
    const alice = unique('alice');
    const bob = unique('bob');
    const ca = await connectWs(a.wsUrl, { token: await sys.token(alice), heartbeat: {} });
    const cb = await connectWs(b.wsUrl, { token: await sys.token(bob), heartbeat: {} });
    const welcome = await ca.next('welcome');
    expect(welcome).toMatchObject({ serverId: a.id, userId: alice, heartbeatIntervalMs: 1000 });
    await ca.next('catchUpDone');
    await cb.next('catchUpDone');

    const n = 30;
    for (let i = 0; i < n; i++) {
      ca.sendMessage(bob, `a${i}`, `ca${i}`);
      cb.sendMessage(alice, `b${i}`, `cb${i}`);
    }
    await cb.until(
      (f) => cb.messages().length >= n && f.filter((x) => x.frame.case === 'sendAck').length >= n,
    );
    await ca.until(
      (f) => ca.messages().length >= n && f.filter((x) => x.frame.case === 'sendAck').length >= n,
    );
    expect(cb.messages().map((m) => m.body)).toEqual(Array.from({ length: n }, (_, i) => `a${i}`));
    expect(ca.messages().map((m) => m.body)).toEqual(Array.from({ length: n }, (_, i) => `b${i}`));
    for (const m of cb.messages()) expect(m).toMatchObject({ senderId: alice, recipientId: bob });
    const acks = ca.frames.flatMap((f) => (f.frame.case === 'sendAck' ? [f.frame.value] : []));
    expect(acks.map((x) => x.clientMessageId)).toEqual(Array.from({ length: n }, (_, i) => `ca${i}`));
    // The acked ids are the delivered ids.
    expect(cb.messages().map((m) => m.messageId)).toEqual(acks.map((x) => x.messageId));
    // Nothing else arrived: no echo of alice's own sends on her own connection.
    expect(ca.messages().every((m) => m.senderId === bob)).toBe(true);

    const health = await fetch(`${a.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({
      checks: { kafkaProducer: true, deliveryConsumer: true, zookeeper: true },
    });
    const metrics = await (await fetch(`${b.url}/metrics`)).text();
    expect(metrics).toMatch(/^chat_edge_connections\{[^}]*\} 1$/m);
    expect(metrics).toMatch(/^chat_edge_frames_out_total\{[^}]*type="message"[^}]*\} 30$/m);
    expect(metrics).toMatch(/^chat_edge_send_ack_seconds_count\{[^}]*\} 30$/m);
    // Every produce request is timed; bob's 30 sends took at least one.
    const produced = /^chat_edge_produce_seconds_count\{[^}]*\} (\d+)$/m.exec(metrics);
    expect(Number(produced?.[1])).toBeGreaterThanOrEqual(1);
  });

  it('two devices of one user both receive; the other device of the sender gets the copy', async () => {
    const sys = await startEdges({ edges: 2 });
    const [a, b] = sys.edges as [(typeof sys.edges)[0], (typeof sys.edges)[0]];
    const alice = unique('alice');
    const bob = unique('bob');
    const ta = await sys.token(alice);
    const tb = await sys.token(bob);
    const phone = await connectWs(a.wsUrl, { token: tb, heartbeat: {} });
    const laptop = await connectWs(b.wsUrl, { token: tb, heartbeat: {} });
    const alicePhone = await connectWs(a.wsUrl, { token: ta, heartbeat: {} });
    const aliceLaptop = await connectWs(b.wsUrl, { token: ta, heartbeat: {} });
    for (const c of [phone, laptop, alicePhone, aliceLaptop]) await c.next('catchUpDone');
    alicePhone.sendMessage(bob, 'hi bob', 'x1');
    for (const c of [phone, laptop, aliceLaptop]) {
      await c.until(() => c.messages().length === 1);
      expect(c.messages()[0]).toMatchObject({ body: 'hi bob', senderId: alice, clientMessageId: 'x1' });
    }
    await alicePhone.next('sendAck');
    await new Promise((r) => setTimeout(r, 300));
    expect(alicePhone.messages()).toHaveLength(0);
    for (const c of [phone, laptop, aliceLaptop]) expect(c.messages()).toHaveLength(1);
  });
});
