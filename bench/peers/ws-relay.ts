/**
 * The ceiling: a bare WebSocket relay in one process speaking our frames (npm `ws`, in-memory
 * routing, no broker, no database, no catch-up). It verifies the same JWT on the upgrade, sends
 * Welcome, answers Heartbeat with HeartbeatAck (the first one also with CatchUpDone), acks each
 * SendMessage at once and hands the ChatMessage to the recipient's sockets. Whatever our chat
 * servers do beyond this is the price of durability and scale-out.
 *
 * Run alone: `node --import tsx bench/peers/ws-relay.ts` (env RELAY_PORT, default 0; RELAY_HEARTBEAT_MS, default 10000; prints
 * "relay ready <ws url>"; CHAT_AUTH_SECRET required).
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { create, fromBinary, type MessageInitShape, toBinary } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { WebSocket, WebSocketServer } from 'ws';
import { ClientFrameSchema, ServerFrameSchema } from '../../gen/chat/v1/frames_pb.js';
import { verifyToken } from '../../src/shared/auth.js';
import { newMessageId } from '../../src/shared/ids.js';

/** Options of {@link startWsRelay}. */
export interface WsRelayOptions {
  /** HS256 secret of the access tokens (at least 32 bytes). Required. */
  authSecret: string;
  /** Listen address. Default 127.0.0.1. */
  host?: string;
  /** Listen port; 0 picks a free one. Default 0. */
  port?: number;
  /** Heartbeat interval told to clients, ms. Default 10000. */
  heartbeatIntervalMs?: number;
}

/** A running relay. */
export interface WsRelay {
  url: string;
  close(): Promise<void>;
}

const encode = (frame: MessageInitShape<typeof ServerFrameSchema>['frame']) =>
  toBinary(ServerFrameSchema, create(ServerFrameSchema, { frame }));

function bearer(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (header?.startsWith('Bearer ')) return header.slice(7);
  return new URL(req.url ?? '/', 'http://x').searchParams.get('token') ?? undefined;
}

/** Starts the relay. */
export async function startWsRelay(options: WsRelayOptions): Promise<WsRelay> {
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? 10000;
  const sessions = new Map<string, Set<WebSocket>>();
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 66 * 1024 });
  const server = createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req, socket, head) => {
    verifyToken(bearer(req), { secret: options.authSecret }).then(
      (userId) => wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, userId)),
      () => socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n'),
    );
  });
  const onConnection = (ws: WebSocket, userId: string) => {
    const mine = sessions.get(userId) ?? new Set<WebSocket>();
    sessions.set(userId, mine);
    mine.add(ws);
    let caughtUp = false;
    ws.send(
      encode({
        case: 'welcome',
        value: {
          serverId: 'relay',
          userId,
          heartbeatIntervalMs,
          maxFrameBytes: 66 * 1024,
          maxBodyBytes: 65536,
        },
      }),
    );
    ws.on('message', (data: Buffer) => {
      let frame: ReturnType<typeof fromBinary<typeof ClientFrameSchema>>['frame'];
      try {
        frame = fromBinary(ClientFrameSchema, data).frame;
      } catch {
        ws.send(encode({ case: 'error', value: { code: 1, message: 'invalid frame', clientMessageId: '' } }));
        return;
      }
      if (frame.case === 'heartbeat') {
        ws.send(encode({ case: 'heartbeatAck', value: { serverTime: timestampFromMs(Date.now()) } }));
        if (!caughtUp) {
          caughtUp = true;
          ws.send(encode({ case: 'catchUpDone', value: { delivered: 0 } }));
        }
      } else if (frame.case === 'send') {
        const now = Date.now();
        const messageId = newMessageId(now);
        const sentAt = timestampFromMs(now);
        const { clientMessageId, recipientId, body } = frame.value;
        ws.send(encode({ case: 'sendAck', value: { clientMessageId, messageId, sentAt } }));
        const targets = sessions.get(recipientId);
        if (targets) {
          const bytes = encode({
            case: 'message',
            value: { messageId, clientMessageId, senderId: userId, recipientId, body, sentAt },
          });
          for (const t of targets) if (t.readyState === WebSocket.OPEN) t.send(bytes);
        }
      }
    });
    ws.on('close', () => {
      mine.delete(ws);
      if (mine.size === 0) sessions.delete(userId);
    });
  };
  await new Promise<void>((resolve) =>
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve),
  );
  const { address, port } = server.address() as AddressInfo;
  return {
    url: `ws://${address}:${port}/ws`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const ws of wss.clients) ws.terminate();
        wss.close();
        server.close(() => resolve());
      }),
  };
}

if (process.argv[1]?.endsWith('ws-relay.ts')) {
  const secret = process.env.CHAT_AUTH_SECRET;
  if (!secret) throw new Error('CHAT_AUTH_SECRET: required');
  const relay = await startWsRelay({
    authSecret: secret,
    port: Number(process.env.RELAY_PORT ?? 0),
    heartbeatIntervalMs: Number(process.env.RELAY_HEARTBEAT_MS ?? 10000),
  });
  console.log(`relay ready ${relay.url}`);
  const stop = () => void relay.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
