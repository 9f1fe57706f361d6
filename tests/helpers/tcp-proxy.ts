/**
 * Fault helper: a TCP proxy on a free loopback port in front of a real server (PostgreSQL,
 * Kafka, ...). Point a client at it, then cut() to make the server look dead (open
 * connections are reset, new ones are reset at once) and restore() to bring it back, without
 * touching the shared server itself. Closed automatically when the test finishes.
 */
import { createServer, type Server, Socket } from 'node:net';
import { onTestFinished } from 'vitest';

/** A running proxy. */
export interface TcpProxy {
  /** The proxy's port on 127.0.0.1. */
  readonly port: number;
  /** Connections accepted and forwarded so far (refused ones are not counted). */
  readonly accepted: number;
  /** Whether the proxy is cut. */
  readonly isCut: boolean;
  /** Resets every open connection and resets new ones until restore(). */
  cut(): void;
  /** Forwards new connections again. */
  restore(): void;
  /** Resets everything and stops listening. Idempotent. */
  close(): Promise<void>;
}

/** Options of {@link startTcpProxy}. */
export interface TcpProxyOptions {
  /** Where connections go. Default host 127.0.0.1. */
  targetHost?: string;
  targetPort: number;
}

/** Starts a proxy to targetHost:targetPort on 127.0.0.1, port 0. */
export async function startTcpProxy(options: TcpProxyOptions): Promise<TcpProxy> {
  const targetHost = options.targetHost ?? '127.0.0.1';
  const open = new Set<Socket>();
  let cut = false;
  let accepted = 0;
  let closed = false;

  const reset = (socket: Socket) => {
    // resetAndDestroy sends RST, so the client sees a dead peer at once rather than a clean EOF.
    if (!socket.destroyed) socket.resetAndDestroy();
  };

  const server: Server = createServer((client) => {
    client.on('error', () => {});
    if (cut || closed) {
      reset(client);
      return;
    }
    accepted += 1;
    const upstream = new Socket();
    open.add(client);
    open.add(upstream);
    const fail = () => {
      reset(client);
      reset(upstream);
    };
    const closeOther = (other: Socket) => () => {
      open.delete(client);
      open.delete(upstream);
      other.end();
    };
    client.on('error', fail).on('close', closeOther(upstream));
    upstream.on('error', fail).on('close', closeOther(client));
    upstream.connect(options.targetPort, targetHost, () => {
      client.pipe(upstream);
      upstream.pipe(client);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('tcp proxy has no port');

  const proxy: TcpProxy = {
    port: address.port,
    get accepted() {
      return accepted;
    },
    get isCut() {
      return cut;
    },
    cut() {
      cut = true;
      for (const socket of open) reset(socket);
      open.clear();
    },
    restore() {
      cut = false;
    },
    async close() {
      if (closed) return;
      closed = true;
      proxy.cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  onTestFinished(() => proxy.close());
  return proxy;
}
