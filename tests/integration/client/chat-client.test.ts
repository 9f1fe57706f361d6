/**
 * The SDK against the real system (discovery, two chat servers, writer, Kafka, ZooKeeper,
 * PostgreSQL): what an application sees.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { ChatMessage } from '../../../gen/chat/v1/message_pb.js';
import type { ChatClient, ChatClientState } from '../../../src/client/chat-client.js';
import { ChatClientError } from '../../../src/client/errors.js';
import { createNodeChatClient } from '../../../src/client/node.js';
import { type InProcessSystem, startInProcessSystem } from '../../helpers/in-process-system.js';
import { unique } from '../../helpers/infra.js';

function client(
  system: InProcessSystem,
  user: string,
  extra: Partial<Parameters<typeof createNodeChatClient>[0]> = {},
) {
  const c = createNodeChatClient({
    discoveryUrl: system.discoveryUrl,
    userId: user,
    token: () => system.token(user),
    reconnect: { initialDelayMs: 50, maxDelayMs: 500 },
    ...extra,
  });
  onTestFinished(() => c.close());
  return c;
}

function collect(c: ChatClient): ChatMessage[] {
  const got: ChatMessage[] = [];
  c.on('message', (m) => got.push(m));
  return got;
}

async function until(check: () => boolean, what: string, timeoutMs = 20000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('ChatClient', () => {
  it('sends and receives in order across two chat servers, each message once', async () => {
    const system = await startInProcessSystem();
    const [alice, bob] = [unique('alice'), unique('bob')];
    const a = client(system, alice);
    const b = client(system, bob);
    const got = collect(b);
    const [wa, wb] = await Promise.all([a.connect(), b.connect()]);
    // Discovery spreads the two fresh clients over both servers.
    expect(wa.serverId).not.toBe(wb.serverId);
    const acks = await Promise.all(Array.from({ length: 50 }, (_, i) => a.send(bob, `m${i}`)));
    expect(new Set(acks.map((x) => x.messageId)).size).toBe(50);
    await until(() => got.length >= 50, '50 messages');
    await sleep(300);
    expect(got.map((m) => m.body)).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));
    expect(got.every((m) => m.senderId === alice && m.recipientId === bob)).toBe(true);
  });

  it('catches up an offline user in order, then goes live, with no duplicate', async () => {
    const system = await startInProcessSystem();
    const [alice, bob] = [unique('alice'), unique('bob')];
    const a = client(system, alice);
    await a.connect();
    for (let i = 0; i < 20; i++) await a.send(bob, `offline ${i}`);

    const b = client(system, bob);
    const got = collect(b);
    let caughtUpAt = -1;
    b.on('catchUpDone', () => {
      caughtUpAt = got.length;
    });
    await b.connect();
    await until(() => caughtUpAt >= 0, 'catch-up');
    expect(caughtUpAt).toBe(20);
    await a.send(bob, 'live');
    await until(() => got.length >= 21, 'live message');
    await sleep(300);
    expect(got.map((m) => m.body)).toEqual([...Array.from({ length: 20 }, (_, i) => `offline ${i}`), 'live']);
  });

  it('starts catch-up after the read cursor, re-reading only the clock-skew overlap window', async () => {
    const system = await startInProcessSystem();
    const [alice, bob] = [unique('alice'), unique('bob')];
    const a = client(system, alice);
    await a.connect();
    await a.send(bob, 'long read');
    await sleep(1500); // older than the cursor by more than the 1 s overlap window
    await a.send(bob, 'just read 1');
    const read = await a.send(bob, 'just read 2');
    await a.send(bob, 'new');
    const readMs = Number(read.sentAt!.seconds) * 1000 + read.sentAt!.nanos / 1e6;
    const b = client(system, bob, { lastReadTimestamp: readMs });
    const got = collect(b);
    let done = false;
    b.on('catchUpDone', () => {
      done = true;
    });
    await b.connect();
    await until(() => done, 'catch-up');
    // A fresh device sees the overlap window before its cursor again (documented), never older.
    expect(got.map((m) => m.body)).toEqual(['just read 1', 'just read 2', 'new']);
  });

  it('reconnects through discovery when its server goes away and loses nothing', async () => {
    const system = await startInProcessSystem();
    const [alice, bob] = [unique('alice'), unique('bob')];
    const a = client(system, alice);
    const b = client(system, bob);
    const got = collect(b);
    const states: ChatClientState[] = [];
    b.on('state', (s) => states.push(s));
    await a.connect();
    const welcome = await b.connect();
    await a.send(bob, 'before');
    await until(() => got.length === 1, 'first message');

    const bobsServer = system.edges.find((e) => e.id === welcome.serverId)!;
    await bobsServer.drain();
    // While bob moves, alice keeps sending (alice may have been on that server too: the SDK resends).
    const sends = Array.from({ length: 10 }, (_, i) => a.send(bob, `during ${i}`));
    await Promise.all(sends);
    await until(() => got.length >= 11, 'messages sent while moving');
    await sleep(300);
    expect(got.map((m) => m.body)).toEqual([
      'before',
      ...Array.from({ length: 10 }, (_, i) => `during ${i}`),
    ]);
    expect(states).toContain('reconnecting');
    expect(b.state).toBe('connected');
    expect(b.welcome?.serverId).not.toBe(welcome.serverId);
  });

  it('rejects refused messages with a typed error naming the message', async () => {
    const system = await startInProcessSystem();
    const alice = unique('alice');
    const a = client(system, alice);
    const welcome = await a.connect();
    const tooBig = 'x'.repeat(welcome.maxBodyBytes + 1);
    const refused = await a.send('bob', tooBig, { clientMessageId: 'big-1' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ChatClientError);
    expect(refused).toMatchObject({ code: 'TOO_LARGE', clientMessageId: 'big-1' });
    await expect(a.send('', 'hi')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    // The connection is still usable.
    await expect(a.send(unique('bob'), 'fine')).resolves.toMatchObject({
      clientMessageId: expect.any(String),
    });
  });
});
