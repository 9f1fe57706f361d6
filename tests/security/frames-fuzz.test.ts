/**
 * Property-based fuzzing of ClientFrame bytes against a REAL chat server process: random bytes,
 * truncated frames (cut varints and length prefixes), mutated bytes, wrong wire types, unknown
 * fields, huge length prefixes, and a forged sender. Every input is answered with a typed
 * ChatError, a SendAck/HeartbeatAck (the bytes happened to be a valid frame), or a documented
 * close code (1007 after repeated garbage, 1009 over the size limit); the process stays up with
 * bounded memory; a bystander on the same server keeps receiving everything; and nothing
 * malformed reaches Kafka or PostgreSQL.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientFrameSchema, ErrorCode } from '../../gen/chat/v1/frames_pb.js';
import { ChatMessageSchema } from '../../gen/chat/v1/message_pb.js';
import { type Cluster, eventually, startCluster } from '../helpers/cluster.js';
import { connectWs, type TestWsClient } from '../helpers/ws-client.js';
import { expectWellFormed, readTopic, rss, startBystander } from './audit.js';

let cluster: Cluster;
beforeAll(async () => {
  cluster = await startCluster({ chatServers: 1, writers: 1 });
}, 90_000);
afterAll(() => cluster?.stop());

/** Error codes a hostile frame may get. */
const TYPED = new Set([
  ErrorCode.INVALID_FRAME,
  ErrorCode.INVALID_ARGUMENT,
  ErrorCode.TOO_LARGE,
  ErrorCode.RATE_LIMITED,
]);
/** Close codes a hostile connection may get (docs/protocol.md). */
const CLOSES = new Set([1003, 1007, 1009]);

function varint(n: bigint): number[] {
  const out: number[] = [];
  let v = n;
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return out;
}

const sendBytes = fc
  .record({
    clientMessageId: fc.string({ minLength: 1, maxLength: 12 }),
    recipientId: fc.string({ minLength: 1, maxLength: 12 }),
    body: fc.string({ maxLength: 40 }),
  })
  .map((send) =>
    toBinary(ClientFrameSchema, create(ClientFrameSchema, { frame: { case: 'send', value: send } })),
  );

const unknownField = fc
  .tuple(fc.integer({ min: 3, max: 2000 }), fc.uint8Array({ maxLength: 8 }))
  .map(([field, bytes]) => [...varint(BigInt((field << 3) | 2)), bytes.length, ...bytes]);

/** The kinds of hostile ClientFrame bytes. */
const hostileFrame: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 256 }),
  sendBytes.chain((b) => fc.nat(b.length - 1).map((n) => b.slice(0, n))),
  sendBytes.chain((b) =>
    fc.tuple(fc.nat(b.length - 1), fc.integer({ min: 0, max: 255 })).map(([i, v]) => {
      const c = b.slice();
      c[i] = v;
      return c;
    }),
  ),
  fc.tuple(sendBytes, unknownField).map(([b, u]) => new Uint8Array([...b, ...u])),
  // Wrong wire types for known fields: varint, fixed64, start-group, fixed32 where a message is due.
  fc
    .constantFrom(
      [0x08, 0x01],
      [0x09, 1, 2, 3, 4, 5, 6, 7, 8],
      [0x0b, 0x0c],
      [0x0d, 0, 0, 0, 0],
      [0x12, 0x02, 0x08, 0x01],
    )
    .map((a) => new Uint8Array(a)),
  // Huge length prefixes followed by a few bytes, and varints cut short or over-long.
  fc
    .tuple(fc.bigInt({ min: 1000n, max: 2n ** 63n }), fc.uint8Array({ maxLength: 16 }))
    .map(([n, tail]) => new Uint8Array([0x0a, ...varint(n), ...tail])),
  fc
    .constantFrom([0x0a, 0xff], [0x0a, 0xff, 0xff, 0xff, 0xff], [0x0a, ...Array(11).fill(0xff), 0x01])
    .map((a) => new Uint8Array(a)),
);

/** A raw connection that reconnects after the server closes it; records what happened. */
class Prober {
  #client: TestWsClient | undefined;
  readonly closes: number[] = [];
  readonly acked: string[] = [];
  constructor(
    private readonly url: string,
    private readonly token: string,
  ) {}

  async #conn(): Promise<TestWsClient> {
    if (this.#client?.ws.readyState !== 1) {
      this.#client = await connectWs(this.url, { token: this.token, heartbeat: {} });
      await this.#client.next('catchUpDone');
    }
    return this.#client;
  }

  /** Sends one frame; resolves with what the server answered. */
  async probe(bytes: Uint8Array): Promise<string> {
    const c = await this.#conn();
    const before = c.frames.length;
    c.raw(Buffer.from(bytes));
    const closed = c.closed.then((x) => ({ closed: x.code }));
    // The server echoes the sender's own messages to its sessions; the answer is the next other frame.
    const answer = (f: typeof c.frames) => f.slice(before).find((x) => x.frame.case !== 'message');
    const answered = c.until((f) => answer(f) !== undefined, 10_000).then(() => ({ closed: 0 }));
    const outcome = await Promise.race([answered, closed]);
    if (outcome.closed) {
      this.closes.push(outcome.closed);
      return `close ${outcome.closed}`;
    }
    const frame = answer(c.frames)!.frame;
    if (frame.case === 'error') return `error ${frame.value.code}`;
    if (frame.case === 'sendAck') {
      this.acked.push(frame.value.clientMessageId);
      return 'sendAck';
    }
    return frame.case ?? 'empty';
  }
}

describe('hostile ClientFrame bytes against a chat server process', () => {
  it('get typed errors or documented closes; bystander unaffected; memory bounded; Kafka and PostgreSQL clean', async () => {
    const edge = cluster.edges[0]!;
    const bystander = await startBystander(cluster);
    const rssBefore = await rss(edge);
    const attacker = cluster.user('fuzz');
    const prober = new Prober(edge.url, await cluster.token(attacker));
    const outcomes = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(hostileFrame, async (bytes) => {
        const outcome = await prober.probe(bytes);
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        const [kind, code] = outcome.split(' ');
        if (kind === 'error') expect(TYPED, outcome).toContain(Number(code) as ErrorCode);
        else if (kind === 'close') expect(CLOSES, outcome).toContain(Number(code));
        else expect(['sendAck', 'heartbeatAck'], outcome).toContain(kind);
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 400) },
    );
    expect(edge.alive()).toBe(true);
    await bystander.verify();
    const growth = (await rss(edge)) - rssBefore;
    expect(growth, 'RSS growth in bytes').toBeLessThan(100 * 1024 * 1024);

    // Kafka: every record decodes and is well formed; PostgreSQL: the same for what the writer stored.
    const senders = new Set([attacker, ...cluster.users()]);
    const records = await readTopic(cluster);
    for (const m of records) expectWellFormed(m, senders);
    // Every acked send is on the topic (a send whose ack was cut off by a 1007 close may be there too).
    const onTopic = new Set(records.filter((m) => m.senderId === attacker).map((m) => m.clientMessageId));
    for (const id of prober.acked) expect(onTopic.has(id), id).toBe(true);
    // The writer stored exactly those, once each, as they were on the topic.
    await eventually(async () => (await cluster.stored([attacker])).length >= onTopic.size, 20_000);
    const rows = (await cluster.stored([attacker])).filter((r) => r.senderId === attacker);
    expect(new Set(rows.map((r) => r.clientMessageId))).toEqual(onTopic);
    expect(rows.length).toBe(onTopic.size);
    console.log(
      `[frames-fuzz] outcomes ${JSON.stringify(Object.fromEntries(outcomes))}; RSS +${Math.round(growth / 1024)} KiB`,
    );
  }, 180_000);

  it('never takes the sender from the client: a forged sender_id in unknown fields or a ChatMessage-shaped frame', async () => {
    const edge = cluster.edges[0]!;
    const mallory = cluster.user('mallory');
    const victim = cluster.user('victim');
    const bob = cluster.user('bob');
    const m = await connectWs(edge.url, { token: await cluster.token(mallory), heartbeat: {} });
    const b = await connectWs(edge.url, { token: await cluster.token(bob), heartbeat: {} });
    await Promise.all([m.next('catchUpDone'), b.next('catchUpDone')]);
    // SendMessage plus unknown fields 4..6 carrying the victim's id (ChatMessage numbers sender_id 3).
    const send = toBinary(
      ClientFrameSchema,
      create(ClientFrameSchema, {
        frame: { case: 'send', value: { clientMessageId: 'f1', recipientId: bob, body: 'hi' } },
      }),
    );
    const victimBytes = [...Buffer.from(victim)];
    const forged = new Uint8Array([
      ...send.slice(2),
      ...[0x22, victimBytes.length, ...victimBytes],
      ...[0x2a, victimBytes.length, ...victimBytes],
    ]);
    m.raw(Buffer.from([0x0a, forged.length, ...forged]));
    const ack = await m.next('sendAck');
    expect(ack.clientMessageId).toBe('f1');
    // A whole ChatMessage (sender_id = victim) in an unknown ClientFrame field: no frame at all.
    const fake = toBinary(
      ChatMessageSchema,
      create(ChatMessageSchema, {
        messageId: '01HZZZZZZZZZZZZZZZZZZZZZZZ',
        clientMessageId: 'f2',
        senderId: victim,
        recipientId: bob,
        body: 'from the victim',
        sentAt: timestampFromMs(Date.now()),
      }),
    );
    m.raw(Buffer.from([0x1a, fake.length, ...fake]));
    const error = await m.next('error');
    expect(error.code).toBe(ErrorCode.INVALID_FRAME);
    await b.until((f) => f.some((x) => x.frame.case === 'message'));
    await new Promise((r) => setTimeout(r, 500));
    expect(b.messages().map((x) => [x.senderId, x.body])).toEqual([[mallory, 'hi']]);
    await eventually(async () => (await cluster.stored([bob])).length === 1, 20_000);
    const rows = await cluster.stored([bob, victim]);
    expect(rows.map((r) => r.senderId)).toEqual([mallory]);
  }, 60_000);

  it('heartbeat timestamps out of any sane range do not poison presence, read state or the writer', async () => {
    const edge = cluster.edges[0]!;
    const bystander = await startBystander(cluster);
    const user = cluster.user('time-traveller');
    const c = await connectWs(edge.url, { token: await cluster.token(user), heartbeat: {} });
    await c.next('catchUpDone');
    for (const seconds of [253402300800n * 1000n, -62135596800n * 10n, 2n ** 62n]) {
      const before = c.frames.length;
      c.send({ frame: { case: 'heartbeat', value: { lastReadTimestamp: { seconds, nanos: 999_999_999 } } } });
      await c.until((f) => f.length > before || c.ws.readyState !== 1, 5_000).catch(() => {});
    }
    await new Promise((r) => setTimeout(r, 2000));
    expect(edge.alive() && cluster.writers[0]!.alive()).toBe(true);
    // The writer keeps storing: the bystander's messages are all in PostgreSQL.
    await bystander.verify();
    expect(await (await fetch(`${cluster.writers[0]!.httpUrl}/healthz`)).status).toBe(200);
  }, 60_000);
});
