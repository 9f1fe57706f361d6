/**
 * Hostile and broken clients: bad tokens and origins are refused before any socket exists;
 * garbage, text, oversized and flooding clients get their typed errors (or close codes) while a
 * well-behaved client on the same server keeps receiving.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { ErrorCode, SendMessageSchema } from '../../../gen/chat/v1/frames_pb.js';
import { signToken } from '../../../src/shared/auth.js';
import { SECRET, startEdges } from '../../helpers/edge-system.js';
import { unique } from '../../helpers/infra.js';
import { connectWs, type TestWsClient, upgradeStatus } from '../../helpers/ws-client.js';

const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');

function errors(c: TestWsClient) {
  return c.frames.flatMap((f) => (f.frame.case === 'error' ? [f.frame.value] : []));
}

describe('chat server input handling', () => {
  it('refuses bad tokens with 401, bad origins with 403, other paths with 404; accepts header or query token', async () => {
    const sys = await startEdges({ writer: false, edge: { allowedOrigins: ['https://chat.example'] } });
    const [edge] = sys.edges as [(typeof sys.edges)[0]];
    const url = edge.wsUrl;
    const user = unique('u');
    const good = await sys.token(user);
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, Parameters<typeof upgradeStatus>[1], number][] = [
      ['no token', {}, 401],
      ['garbage token', { token: 'not.a.jwt' }, 401],
      [
        'other secret',
        { token: await signToken(user, { secret: 'another-secret-that-is-32-bytes-long!!' }) },
        401,
      ],
      ['expired', { token: await signToken(user, { secret: SECRET, ttlSeconds: -60 }) }, 401],
      [
        'alg none',
        {
          token: `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: user, iss: 'chat-backend', exp: now + 600 })}.`,
        },
        401,
      ],
      ['bad origin', { token: good, origin: 'https://evil.example' }, 403],
      ['good origin', { token: good, origin: 'https://chat.example' }, 101],
      ['query token', { queryToken: good }, 101],
      ['no origin (not a browser)', { token: good }, 101],
    ];
    for (const [name, options, status] of cases) {
      expect([name, await upgradeStatus(url, options)]).toEqual([name, status]);
    }
    expect(await upgradeStatus(url.replace('/ws', '/other'), { token: good })).toBe(404);
  });

  it('answers garbage, text, empty, bad-argument and too-large frames with typed errors; the socket stays open', async () => {
    const sys = await startEdges({ edge: { maxBodyBytes: 1000 } });
    const [edge] = sys.edges as [(typeof sys.edges)[0]];
    const alice = unique('alice');
    const bob = unique('bob');
    const c = await connectWs(edge.wsUrl, { token: await sys.token(alice), heartbeat: {} });
    const cb = await connectWs(edge.wsUrl, { token: await sys.token(bob), heartbeat: {} });
    await c.next('catchUpDone');
    c.raw(Buffer.from([0xff, 0xff, 0xff, 0x01]));
    c.raw('{"send":{"body":"json?"}}');
    c.raw(Buffer.alloc(0));
    c.sendMessage('', 'x', 'empty-recipient');
    c.sendMessage('x'.repeat(200), 'x', 'long-recipient');
    c.sendMessage('bad\u0001id', 'x', 'control-recipient');
    c.sendMessage(bob, 'x', '');
    c.sendMessage(bob, 'é'.repeat(501), 'too-large');
    c.sendMessage(bob, 'ok', 'ok-1');
    await c.next('sendAck');
    await c.until(() => errors(c).length >= 8);
    const got = errors(c).map((e) => [e.code, e.clientMessageId]);
    expect(got).toEqual([
      [ErrorCode.INVALID_FRAME, ''],
      [ErrorCode.INVALID_FRAME, ''],
      [ErrorCode.INVALID_FRAME, ''],
      [ErrorCode.INVALID_ARGUMENT, 'empty-recipient'],
      [ErrorCode.INVALID_ARGUMENT, 'long-recipient'],
      [ErrorCode.INVALID_ARGUMENT, 'control-recipient'],
      [ErrorCode.INVALID_ARGUMENT, ''],
      [ErrorCode.TOO_LARGE, 'too-large'],
    ]);
    await cb.until(() => cb.messages().length === 1);
    expect(cb.messages()[0]).toMatchObject({ body: 'ok', senderId: alice });

    // A sender field smuggled in as an unknown field is ignored: the sender is the token's sub.
    const send = toBinary(
      SendMessageSchema,
      create(SendMessageSchema, { recipientId: bob, body: 'forged?', clientMessageId: 'f1' }),
    );
    const mallory = Buffer.from('mallory');
    const smuggled = Buffer.concat([Buffer.from(send), Buffer.from([(9 << 3) | 2, mallory.length]), mallory]);
    c.raw(Buffer.concat([Buffer.from([(1 << 3) | 2, smuggled.length]), smuggled]));
    await cb.until(() => cb.messages().length === 2);
    expect(cb.messages()[1]).toMatchObject({ body: 'forged?', senderId: alice });
  });

  it('closes 1009 on an oversized frame, 1003 after repeated text frames, 1007 after repeated garbage', async () => {
    const sys = await startEdges({ writer: false, edge: { maxFrameBytes: 2048, maxInvalidFrames: 3 } });
    const [edge] = sys.edges as [(typeof sys.edges)[0]];
    const token = await sys.token(unique('u'));
    const big = await connectWs(edge.wsUrl, { token });
    big.raw(Buffer.alloc(4096, 1));
    expect((await big.closed).code).toBe(1009);
    const text = await connectWs(edge.wsUrl, { token });
    for (let i = 0; i < 5; i++) text.raw('hello');
    expect((await text.closed).code).toBe(1003);
    const garbage = await connectWs(edge.wsUrl, { token });
    for (let i = 0; i < 5; i++) garbage.raw(Buffer.from([0xff, 0xff]));
    expect((await garbage.closed).code).toBe(1007);
    expect(errors(garbage).length).toBeGreaterThanOrEqual(3);
  });

  it('rate-limits a flood with RATE_LIMITED per message while another client on the server keeps receiving', async () => {
    const sys = await startEdges({ edge: { sendRatePerSecond: 10, sendBurst: 20 } });
    const [edge] = sys.edges as [(typeof sys.edges)[0]];
    const flooder = unique('flooder');
    const alice = unique('alice');
    const bob = unique('bob');
    const cf = await connectWs(edge.wsUrl, { token: await sys.token(flooder), heartbeat: {} });
    const ca = await connectWs(edge.wsUrl, { token: await sys.token(alice), heartbeat: {} });
    const cb = await connectWs(edge.wsUrl, { token: await sys.token(bob), heartbeat: {} });
    for (const c of [cf, ca, cb]) await c.next('catchUpDone');
    for (let i = 0; i < 100; i++) cf.sendMessage(bob, `flood${i}`, `f${i}`);
    for (let i = 0; i < 5; i++) ca.sendMessage(bob, `hello${i}`, `a${i}`);
    await cf.until(
      (frames) => frames.filter((f) => f.frame.case === 'sendAck' || f.frame.case === 'error').length === 100,
    );
    const limited = errors(cf).filter((e) => e.code === ErrorCode.RATE_LIMITED);
    expect(limited.length).toBeGreaterThanOrEqual(60);
    expect(limited.length).toBeLessThanOrEqual(80);
    // Each refusal names the refused message.
    expect(limited.map((e) => e.clientMessageId)).toContain('f99');
    await cb.until(() => cb.messages().filter((m) => m.senderId === alice).length === 5);
    expect(
      cb
        .messages()
        .filter((m) => m.senderId === alice)
        .map((m) => m.body),
    ).toEqual(Array.from({ length: 5 }, (_, i) => `hello${i}`));
  });

  it('a resend of the same client_message_id gets the same SendAck and is delivered once', async () => {
    const sys = await startEdges();
    const [edge] = sys.edges as [(typeof sys.edges)[0]];
    const alice = unique('alice');
    const bob = unique('bob');
    const ca = await connectWs(edge.wsUrl, { token: await sys.token(alice), heartbeat: {} });
    const cb = await connectWs(edge.wsUrl, { token: await sys.token(bob), heartbeat: {} });
    await cb.next('catchUpDone');
    ca.sendMessage(bob, 'once', 'same-id');
    ca.sendMessage(bob, 'once', 'same-id');
    await ca.until((f) => f.filter((x) => x.frame.case === 'sendAck').length === 2);
    ca.sendMessage(bob, 'once', 'same-id');
    await ca.until((f) => f.filter((x) => x.frame.case === 'sendAck').length === 3);
    const acks = ca.frames.flatMap((f) => (f.frame.case === 'sendAck' ? [f.frame.value] : []));
    expect(new Set(acks.map((a) => a.messageId)).size).toBe(1);
    await cb.until(() => cb.messages().length >= 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(cb.messages()).toHaveLength(1);
  });
});
