/**
 * Hostile connections against a REAL chat server process (what tests/integration/edge/abuse.test.ts
 * does not already cover in-process): tokens with bad subjects, issuers, algorithms or missing
 * claims; a disallowed or "null" Origin; frames split into many tiny fragments (and fragments that
 * add up past the limit); hundreds of slow or incomplete HTTP upgrades; a client that never reads
 * while it is flooded, at the default limits. Each gets its refusal or documented close code, the
 * process stays up with bounded memory, and a bystander on the same server keeps chatting.
 */
import net from 'node:net';
import { create, toBinary } from '@bufbuild/protobuf';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientFrameSchema } from '../../gen/chat/v1/frames_pb.js';
import { type Cluster, eventually, startCluster } from '../helpers/cluster.js';
import { connectWs, upgradeStatus } from '../helpers/ws-client.js';
import { rss, startBystander } from './audit.js';

let cluster: Cluster;
beforeAll(async () => {
  cluster = await startCluster({
    chatServers: 1,
    writers: 1,
    edgeEnv: { EDGE_ALLOWED_ORIGINS: 'https://chat.example' },
  });
}, 90_000);
afterAll(() => cluster?.stop());

const enc = new TextEncoder();

async function jwt(
  claims: Record<string, unknown>,
  options: { secret?: string; alg?: string; exp?: number | null; iss?: string } = {},
) {
  let t = new SignJWT(claims).setProtectedHeader({ alg: options.alg ?? 'HS256', typ: 'JWT' }).setIssuedAt();
  t = t.setIssuer(options.iss ?? 'chat-backend');
  if (options.exp !== null) t = t.setExpirationTime(options.exp ?? Math.floor(Date.now() / 1000) + 600);
  return t.sign(enc.encode(options.secret ?? cluster.authSecret));
}

function sendFrame(recipientId: string, clientMessageId: string, body: string): Uint8Array {
  return toBinary(
    ClientFrameSchema,
    create(ClientFrameSchema, { frame: { case: 'send', value: { recipientId, clientMessageId, body } } }),
  );
}

describe('hostile connections against a chat server process', () => {
  it('refuses tokens with bad subjects, issuers, algorithms or claims (401) and bad origins (403)', async () => {
    const url = cluster.edges[0]!.url;
    const user = cluster.user('tok');
    const origin = 'https://chat.example';
    const cases: [string, Parameters<typeof upgradeStatus>[1], number][] = [
      ['empty sub', { token: await jwt({ sub: '' }), origin }, 401],
      ['no sub', { token: await jwt({}), origin }, 401],
      ['sub too long', { token: await jwt({ sub: 'x'.repeat(129) }), origin }, 401],
      ['sub with control char', { token: await jwt({ sub: 'eve\u0000admin' }), origin }, 401],
      ['sub not a string', { token: await jwt({ sub: 42 }), origin }, 401],
      ['other issuer', { token: await jwt({ sub: user }, { iss: 'someone-else' }), origin }, 401],
      ['no exp', { token: await jwt({ sub: user }, { exp: null }), origin }, 401],
      ['HS512 with the right secret', { token: await jwt({ sub: user }, { alg: 'HS512' }), origin }, 401],
      [
        'not yet valid',
        {
          token: await new SignJWT({ sub: user })
            .setProtectedHeader({ alg: 'HS256' })
            .setIssuer('chat-backend')
            .setNotBefore('1h')
            .setExpirationTime('2h')
            .sign(enc.encode(cluster.authSecret)),
          origin,
        },
        401,
      ],
      [
        'Basic instead of Bearer',
        { headers: { authorization: `Basic ${await jwt({ sub: user })}` }, origin },
        401,
      ],
      ['token with trailing garbage', { token: `${await jwt({ sub: user })}x`, origin }, 401],
      ['disallowed Origin', { token: await jwt({ sub: user }), origin: 'https://evil.example' }, 403],
      ['"null" Origin', { token: await jwt({ sub: user }), origin: 'null' }, 403],
      ['allowed Origin', { token: await jwt({ sub: user }), origin }, 101],
    ];
    const got = [];
    for (const [name, options, status] of cases) got.push([name, await upgradeStatus(url, options), status]);
    expect(got.filter(([, a, b]) => a !== b)).toEqual([]);
    // A 100 KB token is refused before anything is parsed (431 from the HTTP parser, or 401).
    expect([401, 431, 400]).toContain(
      await upgradeStatus(url, { token: 'a'.repeat(100_000), origin }).catch(() => 400),
    );
    expect(cluster.edges[0]!.alive()).toBe(true);
  }, 60_000);

  it('reassembles a frame sent in one-byte fragments; closes 1009 when fragments add up past the limit', async () => {
    const url = cluster.edges[0]!.url;
    const bob = cluster.user('frag-bob');
    const c = await connectWs(url, {
      token: await cluster.token(cluster.user('frag')),
      heartbeat: {},
      origin: 'https://chat.example',
    });
    await c.next('catchUpDone');
    const frame = sendFrame(bob, 'tiny-1', 'split into one-byte fragments');
    for (let i = 0; i < frame.length; i++) {
      c.ws.send(frame.subarray(i, i + 1), { binary: true, fin: i === frame.length - 1 });
    }
    expect((await c.next('sendAck')).clientMessageId).toBe('tiny-1');
    // 2,000 fragments of 40 bytes (80 KB, over the 65 KiB + 1 KiB frame limit), never finished.
    const chunk = Buffer.alloc(40, 0x41);
    for (let i = 0; i < 2000 && c.ws.readyState === 1; i++) c.ws.send(chunk, { binary: true, fin: false });
    expect((await c.closed).code).toBe(1009);
    expect(cluster.edges[0]!.alive()).toBe(true);
  }, 60_000);

  it('keeps serving while hundreds of upgrades arrive slowly or never finish', async () => {
    const edge = cluster.edges[0]!;
    const bystander = await startBystander(cluster);
    const { port } = new URL(edge.url);
    const token = await cluster.token(cluster.user('slow'));
    const sockets: net.Socket[] = [];
    const open = (first: string) =>
      new Promise<net.Socket>((resolve) => {
        const s = net.connect(Number(port), '127.0.0.1', () => {
          s.write(first);
          resolve(s);
        });
        s.on('error', () => {});
        sockets.push(s);
      });
    // 300 that stop in the middle of the headers, 50 that send a real upgrade one byte every 50 ms.
    for (let i = 0; i < 300; i++) await open('GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n');
    const request =
      `GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nOrigin: https://chat.example\r\n` +
      `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer ${token}\r\n\r\n`;
    const dribblers = await Promise.all(Array.from({ length: 50 }, () => open(request.slice(0, 1))));
    let pos = 1;
    const dribble = setInterval(() => {
      for (const s of dribblers) if (!s.destroyed) s.write(request.slice(pos, pos + 1));
      pos++;
    }, 50);
    try {
      // A new, normal client still gets in and is served at once.
      const c = await connectWs(edge.url, {
        token: await cluster.token(cluster.user('normal')),
        heartbeat: {},
        origin: 'https://chat.example',
      });
      await c.next('catchUpDone', 0, 10_000);
      await new Promise((r) => setTimeout(r, 3000));
      expect(edge.alive()).toBe(true);
      await c.close();
    } finally {
      clearInterval(dribble);
      for (const s of sockets) s.destroy();
    }
    await bystander.verify();
    // Nothing is left counted once they are gone (only the bystander's two sessions remain, then none).
    await eventually(async () => ((await edge.metric('chat_edge_connections')) ?? 0) <= 2, 10_000);
  }, 90_000);

  it('closes a client that never reads while it is flooded (default limits, 1013); memory stays bounded', async () => {
    const edge = cluster.edges[0]!;
    const bystander = await startBystander(cluster);
    const rssBefore = await rss(edge);
    const sleeper = cluster.user('never-reads');
    const s = await connectWs(edge.url, {
      token: await cluster.token(sleeper),
      heartbeat: {},
      origin: 'https://chat.example',
    });
    await s.next('catchUpDone');
    (s.ws as unknown as { _socket: net.Socket })._socket.pause();
    const closesBefore = (await edge.metric('chat_edge_closes_total', { code: '1013' })) ?? 0;
    // Flood it: 60 KiB messages from several senders within their rate limits.
    const senders = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const c = await connectWs(edge.url, {
          token: await cluster.token(cluster.user('flooder')),
          heartbeat: {},
          origin: 'https://chat.example',
        });
        await c.next('catchUpDone');
        return c;
      }),
    );
    const body = 'z'.repeat(60 * 1024);
    let n = 0;
    await eventually(
      async () => {
        for (const c of senders) for (let k = 0; k < 10; k++) c.sendMessage(sleeper, body, `flood-${n++}`);
        return ((await edge.metric('chat_edge_closes_total', { code: '1013' })) ?? 0) > closesBefore;
      },
      60_000,
      () => ({ sent: n }),
      200,
    );
    expect(edge.alive()).toBe(true);
    const growth = (await rss(edge)) - rssBefore;
    expect(growth, 'RSS growth in bytes').toBeLessThan(150 * 1024 * 1024);
    for (const c of senders) await c.close();
    await bystander.verify();
    console.log(
      `[never-reads] closed after ${n} flood messages; RSS +${Math.round(growth / 1024 / 1024)} MiB`,
    );
  }, 90_000);
});
