/**
 * The peer a Node developer would pick instead: Socket.IO 4.8 with @socket.io/redis-adapter
 * (Redis pub/sub between instances) and one PostgreSQL INSERT per message before the ack, into
 * a bench-only table shaped and indexed like our `messages` table so the storage work compares
 * fairly. Each user joins the room "u:<id>"; a send is inserted, acked by callback and emitted to
 * the recipient's room on whichever instance holds it.
 *
 * Run one instance: `node --import tsx bench/peers/socketio.ts` with env CHAT_AUTH_SECRET,
 * DATABASE_URL, PEER_TABLE (created by {@link createPeerTable}), PEER_PORT (default 0),
 * REDIS_URL (default redis://127.0.0.1:6379), PEER_CHANNEL (Redis channel prefix, default
 * "bench-sio"); prints "socketio ready <url>".
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import pg from 'pg';
import { Server } from 'socket.io';
import { verifyToken } from '../../src/shared/auth.js';
import { newMessageId } from '../../src/shared/ids.js';
import type { PeerAck, PeerMessage, PeerSend } from '../harness/socketio-transport.js';

/** Options of {@link startSocketIoPeer}. */
export interface SocketIoPeerOptions {
  /** HS256 secret of the access tokens. Required. */
  authSecret: string;
  /** PostgreSQL URL. Required. */
  databaseUrl: string;
  /** Table created by {@link createPeerTable}. Required. */
  table: string;
  /** Redis URL. Default redis://127.0.0.1:6379. */
  redisUrl?: string;
  /** Redis channel prefix (the adapter's `key`), unique per run. Default "bench-sio". */
  channel?: string;
  /** Listen address. Default 127.0.0.1. */
  host?: string;
  /** Listen port; 0 picks a free one. Default 0. */
  port?: number;
  /** PostgreSQL connections of this instance. Default 10. */
  poolSize?: number;
}

/** A running instance. */
export interface SocketIoPeer {
  url: string;
  close(): Promise<void>;
}

const TABLE = /^[a-z_][a-z0-9_]{0,62}$/;

/** Creates the bench table (like `messages`: primary key, unique (sender, client id), two time indexes). */
export async function createPeerTable(databaseUrl: string, table: string): Promise<void> {
  if (!TABLE.test(table)) throw new Error(`table: expected a lower-case identifier, got "${table}"`);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(`CREATE TABLE IF NOT EXISTS ${table} (
      message_id text COLLATE "C" PRIMARY KEY,
      client_message_id text NOT NULL,
      sender_id text NOT NULL,
      recipient_id text NOT NULL,
      body bytea NOT NULL,
      sent_at timestamptz(3) NOT NULL,
      stored_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (sender_id, client_message_id))`);
    await client.query(
      `CREATE INDEX IF NOT EXISTS ${table}_r ON ${table} (recipient_id, sent_at, message_id)`,
    );
    await client.query(`CREATE INDEX IF NOT EXISTS ${table}_s ON ${table} (sender_id, sent_at, message_id)`);
  } finally {
    await client.end();
  }
}

/** Drops the bench table. */
export async function dropPeerTable(databaseUrl: string, table: string): Promise<void> {
  if (!TABLE.test(table)) throw new Error(`table: expected a lower-case identifier, got "${table}"`);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(`DROP TABLE IF EXISTS ${table}`);
  } finally {
    await client.end();
  }
}

/** Starts one Socket.IO instance. */
export async function startSocketIoPeer(options: SocketIoPeerOptions): Promise<SocketIoPeer> {
  if (!TABLE.test(options.table))
    throw new Error(`table: expected a lower-case identifier, got "${options.table}"`);
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: options.poolSize ?? 10 });
  const pub = new Redis(options.redisUrl ?? 'redis://127.0.0.1:6379');
  const sub = pub.duplicate();
  const http = createServer();
  const io = new Server(http, {
    transports: ['websocket'],
    perMessageDeflate: false,
    adapter: createAdapter(pub, sub, { key: options.channel ?? 'bench-sio' }),
  });
  const insert = `INSERT INTO ${options.table} (message_id, client_message_id, sender_id, recipient_id, body, sent_at)
    VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`;
  io.use((socket, next) => {
    verifyToken(socket.handshake.auth?.token as string | undefined, { secret: options.authSecret }).then(
      (userId) => {
        socket.data.userId = userId;
        next();
      },
      () => next(new Error('unauthorized')),
    );
  });
  io.on('connection', (socket) => {
    const userId = socket.data.userId as string;
    void socket.join(`u:${userId}`);
    socket.on('send', (m: PeerSend, ack: (a: PeerAck) => void) => {
      if (typeof ack !== 'function' || typeof m?.to !== 'string' || typeof m.cmid !== 'string') return;
      const now = Date.now();
      const id = newMessageId(now);
      pool.query(insert, [id, m.cmid, userId, m.to, Buffer.from(String(m.body)), new Date(now)]).then(
        () => {
          ack({ ok: true, id, sentAt: now });
          const message: PeerMessage = {
            id,
            cmid: m.cmid,
            from: userId,
            to: m.to,
            body: String(m.body),
            sentAt: now,
          };
          io.to(`u:${m.to}`).emit('message', message);
        },
        () => ack({ ok: false, error: 'UNAVAILABLE' }),
      );
    });
  });
  await new Promise<void>((resolve) => http.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  const { address, port } = http.address() as AddressInfo;
  return {
    url: `http://${address}:${port}`,
    async close() {
      io.disconnectSockets(true);
      await new Promise<void>((resolve) => io.close(() => resolve()));
      pub.disconnect();
      sub.disconnect();
      await pool.end();
    },
  };
}

if (process.argv[1]?.endsWith('socketio.ts')) {
  const env = process.env;
  if (!env.CHAT_AUTH_SECRET || !env.DATABASE_URL || !env.PEER_TABLE) {
    throw new Error('CHAT_AUTH_SECRET, DATABASE_URL and PEER_TABLE are required');
  }
  const peer = await startSocketIoPeer({
    authSecret: env.CHAT_AUTH_SECRET,
    databaseUrl: env.DATABASE_URL,
    table: env.PEER_TABLE,
    port: Number(env.PEER_PORT ?? 0),
    ...(env.REDIS_URL ? { redisUrl: env.REDIS_URL } : {}),
    ...(env.PEER_CHANNEL ? { channel: env.PEER_CHANNEL } : {}),
  });
  console.log(`socketio ready ${peer.url}`);
  const stop = () => void peer.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
