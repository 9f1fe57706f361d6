/**
 * A tiny raw protobuf WebSocket client for chat server tests: connects with a token, collects
 * every ServerFrame, sends ClientFrames (or raw bytes), and waits for frames or the close.
 * Deliberately not the SDK: tests see exactly what the server sends.
 */
import { create, fromBinary, type MessageInitShape, toBinary } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { onTestFinished } from 'vitest';
import WebSocket from 'ws';
import { ClientFrameSchema, type ServerFrame, ServerFrameSchema } from '../../gen/chat/v1/frames_pb.js';
import type { ChatMessage } from '../../gen/chat/v1/message_pb.js';

/** Options of {@link connectWs}. */
export interface ConnectOptions {
  /** Sent as Authorization: Bearer. */
  token?: string;
  /** Sent as ?token= instead. */
  queryToken?: string;
  origin?: string;
  headers?: Record<string, string>;
  /** Send Heartbeat{last_read_timestamp} right after Welcome (like the SDK). Default: no heartbeat. */
  heartbeat?: { lastReadMs?: number };
}

type Case = NonNullable<ServerFrame['frame']['case']>;
/** The value of a ServerFrame of one kind. */
export type FrameValue<C extends Case> = Extract<ServerFrame['frame'], { case: C }>['value'];

/** A connected test client. */
export interface TestWsClient {
  ws: WebSocket;
  /** Every frame received so far, in order. */
  frames: ServerFrame[];
  /** ChatMessages received so far, in order. */
  messages(): ChatMessage[];
  /** Waits until `predicate` holds for the frames received (checked on every frame). */
  until(predicate: (frames: ServerFrame[]) => boolean, timeoutMs?: number, what?: string): Promise<void>;
  /** Waits for the first frame of a kind at or after index `from`. */
  next<C extends Case>(kind: C, from?: number, timeoutMs?: number): Promise<FrameValue<C>>;
  send(frame: MessageInitShape<typeof ClientFrameSchema>): void;
  sendMessage(recipientId: string, body: string, clientMessageId: string): void;
  heartbeat(lastReadMs?: number): void;
  raw(data: Buffer | string): void;
  /** Resolves with the close code and reason once the socket closed. */
  closed: Promise<{ code: number; reason: string }>;
  close(): Promise<void>;
}

/** The wss URL from an edge's wsUrl (or http url + /ws). */
export async function connectWs(url: string, options: ConnectOptions = {}): Promise<TestWsClient> {
  const target = new URL(url);
  if (options.queryToken !== undefined) target.searchParams.set('token', options.queryToken);
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  const ws = new WebSocket(target, {
    headers,
    ...(options.origin !== undefined && { origin: options.origin }),
  });
  const frames: ServerFrame[] = [];
  const listeners = new Set<() => void>();
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.once('close', (code, reason) => {
      resolve({ code, reason: reason.toString() });
      for (const l of listeners) l();
    });
  });
  ws.on('message', (data: Buffer) => {
    frames.push(fromBinary(ServerFrameSchema, new Uint8Array(data)));
    for (const l of listeners) l();
  });
  ws.on('error', () => {});
  onTestFinished(() => {
    if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });

  const until: TestWsClient['until'] = (predicate, timeoutMs = 15000, what = 'frames') =>
    new Promise<void>((resolve, reject) => {
      if (predicate(frames)) return resolve();
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`timed out waiting for ${what}; got ${frames.map((f) => f.frame.case).join(',')}`));
      }, timeoutMs);
      const check = () => {
        if (!predicate(frames)) {
          if (ws.readyState === WebSocket.CLOSED) {
            clearTimeout(timer);
            listeners.delete(check);
            reject(new Error(`socket closed while waiting for ${what}`));
          }
          return;
        }
        clearTimeout(timer);
        listeners.delete(check);
        resolve();
      };
      listeners.add(check);
    });

  const client: TestWsClient = {
    ws,
    frames,
    messages: () => frames.flatMap((f) => (f.frame.case === 'message' ? [f.frame.value] : [])),
    until,
    async next<C extends Case>(kind: C, from = 0, timeoutMs = 15000): Promise<FrameValue<C>> {
      const find = () => frames.slice(from).find((f) => f.frame.case === kind);
      await until(() => find() !== undefined, timeoutMs, kind);
      return find()!.frame.value as FrameValue<C>;
    },
    send(frame) {
      ws.send(toBinary(ClientFrameSchema, create(ClientFrameSchema, frame)));
    },
    sendMessage(recipientId, body, clientMessageId) {
      client.send({ frame: { case: 'send', value: { recipientId, body, clientMessageId } } });
    },
    heartbeat(lastReadMs) {
      client.send({
        frame: {
          case: 'heartbeat',
          value: lastReadMs === undefined ? {} : { lastReadTimestamp: timestampFromMs(lastReadMs) },
        },
      });
    },
    raw(data) {
      ws.send(data, { binary: typeof data !== 'string' });
    },
    closed,
    async close() {
      if (ws.readyState === WebSocket.CLOSED) return;
      ws.close(1000);
      await Promise.race([closed, new Promise((r) => setTimeout(r, 2000))]);
      if ((ws.readyState as number) !== WebSocket.CLOSED) ws.terminate();
    },
  };
  if (options.heartbeat) {
    await client.next('welcome');
    client.heartbeat(options.heartbeat.lastReadMs);
  }
  return client;
}

/** Tries an upgrade and returns the HTTP status of a refusal, or 101 when it opened (then closes). */
export function upgradeStatus(url: string, options: ConnectOptions = {}): Promise<number> {
  return connectWs(url, options).then(
    async (c) => {
      c.ws.terminate();
      return 101;
    },
    (err: Error) => {
      const m = /HTTP (\d+)/.exec(err.message);
      if (!m) throw err;
      return Number(m[1]);
    },
  );
}
