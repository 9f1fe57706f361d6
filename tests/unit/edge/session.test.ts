import { EventEmitter } from 'node:events';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler } from 'kysely';
import { describe, expect, it, vi } from 'vitest';
import { ClientFrameSchema, type SendAck, ServerFrameSchema } from '../../../gen/chat/v1/frames_pb.js';
import { CLOSE } from '../../../src/edge/close-codes.js';
import { resolveEdgeOptions } from '../../../src/edge/config.js';
import type { Delivery, LiveRecord, Recipient } from '../../../src/edge/delivery.js';
import { messageFrame } from '../../../src/edge/frames.js';
import { createEdgeMetrics } from '../../../src/edge/metrics.js';
import { createPresencePublisher } from '../../../src/edge/presence-publisher.js';
import { createSendDedupe } from '../../../src/edge/send-dedupe.js';
import { Session, type SessionContext, type SessionSocket } from '../../../src/edge/session.js';
import type { WriterWatermark } from '../../../src/edge/writer-watermark.js';
import { newChatMessage } from '../../../src/shared/codec.js';
import type { Database } from '../../../src/shared/db/schema.js';

/** The part of a ws socket a session uses; 'close' is emitted when the session closes it. */
class FakeSocket extends EventEmitter {
  readyState = 1;
  bufferedAmount = 0;
  session: Session | undefined;
  readonly frames: Uint8Array[] = [];
  send(frame: Uint8Array): void {
    this.frames.push(frame);
  }
  close(): void {
    this.readyState = 3;
    queueMicrotask(() => this.emit('close'));
  }
  terminate(): void {
    this.close();
  }
  /** The cases of the ServerFrames sent so far. */
  sent(): string[] {
    return this.frames.map((f) => fromBinary(ServerFrameSchema, f).frame.case ?? '');
  }
}

/** Every query answers no rows: catch-up finds an empty history. */
const emptyDb = new Kysely<Database>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

function heartbeat(lastReadMs: number): Buffer {
  const frame = create(ClientFrameSchema, {
    frame: { case: 'heartbeat', value: { lastReadTimestamp: timestampFromMs(lastReadMs) } },
  });
  return Buffer.from(toBinary(ClientFrameSchema, frame));
}

function sendFrame(clientMessageId: string, recipientId: string, body: string): Buffer {
  const frame = create(ClientFrameSchema, {
    frame: { case: 'send', value: { clientMessageId, recipientId, body } },
  });
  return Buffer.from(toBinary(ClientFrameSchema, frame));
}

function liveRecord(fields: {
  from: string;
  to: string;
  clientMessageId: string;
  offset: number;
}): LiveRecord {
  const message = newChatMessage({
    messageId: `M${fields.offset}`,
    clientMessageId: fields.clientMessageId,
    senderId: fields.from,
    recipientId: fields.to,
    body: 'hi',
    sentAtMs: Date.now(),
  });
  return { message, partition: 0, offset: fields.offset, frame: () => messageFrame(message) };
}

/** A session on a fake socket with fake Kafka; `watermark` decides how catch-up waits. */
function setup(watermark: Pick<WriterWatermark, 'waitFor'>) {
  const registered = new Set<Recipient>();
  const closed: Session[] = [];
  const produced: string[] = [];
  const presence = createPresencePublisher({
    serverId: 's1',
    topic: 'p',
    send: async () => {},
    flushMs: 60_000,
  });
  const delivery: Pick<Delivery, 'register' | 'unregister' | 'snapshot' | 'position'> = {
    register(session) {
      registered.add(session);
      return new Map([[0, 10]]);
    },
    unregister(session) {
      registered.delete(session);
    },
    snapshot: () => new Map([[0, 10]]),
    position: () => 10,
  };
  const ctx: SessionContext = {
    serverId: 's1',
    options: resolveEdgeOptions({
      authSecret: 'unit-test-secret-of-at-least-32-bytes!',
      kafkaBrokers: ['127.0.0.1:1'],
      databaseUrl: 'postgres://unused',
      zookeeperConnect: '127.0.0.1:1',
      firstHeartbeatWaitMs: 60_000,
    }),
    metrics: createEdgeMetrics('s1'),
    log: undefined,
    delivery: delivery as Delivery,
    watermark: watermark as WriterWatermark,
    db: emptyDb,
    producer: {
      send: async (_topic: string, message: { value: Buffer | string | null }) => {
        produced.push(String(message.value));
      },
    } as unknown as SessionContext['producer'],
    dedupe: createSendDedupe<SendAck>(),
    presence,
    isDraining: () => false,
    onClosed: (s) => closed.push(s),
  };
  const ws = new FakeSocket();
  const session = new Session(ws as unknown as SessionSocket, 'bob', ctx);
  return { ws, session, registered, closed, produced, presence };
}

describe('session', () => {
  it('closing the socket while catch-up waits for the writer aborts the wait and unregisters the session', async () => {
    let waitSignal: AbortSignal | undefined;
    const { ws, session, registered, closed } = setup({
      waitFor: (_target, _timeoutMs, signal) => {
        waitSignal = signal;
        return new Promise((_resolve, reject) => {
          signal?.addEventListener('abort', () => reject(new Error('cancelled')), { once: true });
        });
      },
    });
    expect(ws.sent()).toEqual(['welcome']);
    ws.emit('message', heartbeat(Date.now()), true);
    await vi.waitFor(() => expect(waitSignal).toBeDefined());
    expect(waitSignal?.aborted).toBe(false);
    expect(registered.has(session)).toBe(true);

    ws.emit('close');
    expect(waitSignal?.aborted).toBe(true);
    expect(registered.size).toBe(0);
    expect(closed).toEqual([session]);
    // The aborted catch-up neither reports an error nor sends CatchUpDone.
    await new Promise((r) => setTimeout(r, 10));
    expect(ws.sent()).toEqual(['welcome', 'heartbeatAck']);
  });

  it('after catch-up, live records go out at once; the echo of its own send does not come back', async () => {
    const { ws, session } = setup({ waitFor: async () => {} });
    ws.emit('message', heartbeat(Date.now()), true);
    await vi.waitFor(() => expect(ws.sent()).toContain('catchUpDone'));

    ws.emit('message', sendFrame('c1', 'alice', 'hello'), true);
    await vi.waitFor(() => expect(ws.sent()).toContain('sendAck'));
    session.receive(liveRecord({ from: 'bob', to: 'alice', clientMessageId: 'c1', offset: 11 }));
    session.receive(liveRecord({ from: 'alice', to: 'bob', clientMessageId: 'a1', offset: 12 }));
    // A second copy of bob's own message (another device's view) is not suppressed twice.
    session.receive(liveRecord({ from: 'bob', to: 'alice', clientMessageId: 'c1', offset: 13 }));

    const messages = ws.frames
      .map((f) => fromBinary(ServerFrameSchema, f).frame)
      .flatMap((f) => (f.case === 'message' ? [f.value.messageId] : []));
    expect(messages).toEqual(['M12', 'M13']);
    expect(ws.sent().indexOf('catchUpDone')).toBeLessThan(ws.sent().indexOf('message'));
  });

  it('a session the server closed starts no catch-up and sends nothing more', async () => {
    const waits: AbortSignal[] = [];
    const { ws, session } = setup({
      waitFor: async (_target, _timeoutMs, signal) => {
        if (signal) waits.push(signal);
      },
    });
    session.close(CLOSE.NORMAL);
    ws.emit('message', heartbeat(Date.now()), true);
    await new Promise((r) => setTimeout(r, 10));
    expect(waits).toEqual([]);
    expect(ws.sent()).toEqual(['welcome']);
  });
});
