/**
 * Dependencies failing under a running chat server: history unavailable (writer behind, PostgreSQL
 * cut) closes with 1013 after ChatError UNAVAILABLE, and a reconnect once it is back gets every
 * message - nothing acknowledged is lost.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../gen/chat/v1/frames_pb.js';
import { createWriter } from '../../../src/writer/index.js';
import { startEdges } from '../../helpers/edge-system.js';
import { infra, unique } from '../../helpers/infra.js';
import { startTcpProxy } from '../../helpers/tcp-proxy.js';
import { connectWs } from '../../helpers/ws-client.js';

describe('chat server faults', () => {
  it('writer behind: catch-up gives up with UNAVAILABLE + 1013; after the writer runs, a reconnect gets everything', async () => {
    const sys = await startEdges({ writer: false, edge: { catchUpTimeoutMs: 500 } });
    const [edge] = sys.edges as [(typeof sys.edges)[0]];
    const alice = unique('alice');
    const bob = unique('bob');
    const ca = await connectWs(edge.wsUrl, { token: await sys.token(alice), heartbeat: {} });
    await ca.next('catchUpDone');
    for (let i = 0; i < 5; i++) ca.sendMessage(bob, `m${i}`, `c${i}`);
    await ca.until((f) => f.filter((x) => x.frame.case === 'sendAck').length === 5);

    const early = await connectWs(edge.wsUrl, { token: await sys.token(bob), heartbeat: {} });
    expect((await early.closed).code).toBe(1013);
    expect(early.frames.map((f) => f.frame.case)).toEqual(['welcome', 'heartbeatAck', 'error']);
    expect(early.frames[2]!.frame.value).toMatchObject({ code: ErrorCode.UNAVAILABLE });

    const { kafkaBrokers, databaseUrl } = infra();
    const writer = createWriter({
      kafkaBrokers,
      databaseUrl,
      topics: sys.topics,
      groupId: sys.writerGroupId,
      createTopics: false,
    });
    await writer.start();
    try {
      const cb = await connectWs(edge.wsUrl, { token: await sys.token(bob), heartbeat: {} });
      await cb.next('catchUpDone');
      expect(cb.messages().map((m) => m.body)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
      await cb.close();
    } finally {
      await writer.stop();
    }
  });

  it('PostgreSQL cut: catch-up fails with UNAVAILABLE + 1013, sends still work; restored: a reconnect catches up', async () => {
    const url = new URL(infra().databaseUrl);
    const proxy = await startTcpProxy({ targetHost: url.hostname, targetPort: Number(url.port || 5432) });
    url.port = String(proxy.port);
    const sys = await startEdges({ edge: { databaseUrl: url.toString() } });
    const [edge] = sys.edges as [(typeof sys.edges)[0]];
    const alice = unique('alice');
    const bob = unique('bob');
    const ca = await connectWs(edge.wsUrl, { token: await sys.token(alice), heartbeat: {} });
    await ca.next('catchUpDone');
    proxy.cut();
    // The send path does not touch PostgreSQL: sends are acknowledged while it is unreachable.
    for (let i = 0; i < 3; i++) ca.sendMessage(bob, `m${i}`, `c${i}`);
    await ca.until((f) => f.filter((x) => x.frame.case === 'sendAck').length === 3);
    const early = await connectWs(edge.wsUrl, { token: await sys.token(bob), heartbeat: {} });
    expect((await early.closed).code).toBe(1013);
    expect(early.frames.find((f) => f.frame.case === 'error')?.frame.value).toMatchObject({
      code: ErrorCode.UNAVAILABLE,
    });
    proxy.restore();
    const cb = await connectWs(edge.wsUrl, { token: await sys.token(bob), heartbeat: {} });
    await cb.next('catchUpDone');
    expect(cb.messages().map((m) => m.body)).toEqual(['m0', 'm1', 'm2']);
  });
});
