/**
 * A TCP proxy that can freeze: its connections stay open but no byte moves in either direction
 * and no FIN or RST is sent, which is what a half-open connection (a peer that vanished without
 * a trace, a dead NAT entry) looks like to the server. cut() resets everything instead, an
 * abrupt disconnect without a WebSocket close frame. Closed when the test finishes.
 */
import { createServer, type Server, Socket } from 'node:net';
import { onTestFinished } from 'vitest';

/** A running freezable proxy. */
export interface FreezeProxy {
  readonly port: number;
  /** Stops every byte on every open connection, silently. */
  freeze(): void;
  /** Resets (RST) every open connection. */
  cut(): void;
  close(): Promise<void>;
}

/**
 * Starts a proxy on 127.0.0.1:0 to 127.0.0.1:targetPort; the target may be a function, read per
 * connection (so a server can be started on port 0 with the proxy's URL as its public URL).
 */
export async function startFreezeProxy(targetPort: number | (() => number)): Promise<FreezeProxy> {
  const target = typeof targetPort === 'number' ? () => targetPort : targetPort;
  const pairs = new Set<[Socket, Socket]>();
  const server: Server = createServer((client) => {
    const upstream = new Socket();
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    upstream.connect(target(), '127.0.0.1', () => {
      client.pipe(upstream);
      upstream.pipe(client);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('freeze proxy has no port');
  const proxy: FreezeProxy = {
    port: address.port,
    freeze() {
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
    cut() {
      for (const [client, upstream] of pairs) {
        client.resetAndDestroy();
        upstream.resetAndDestroy();
      }
      pairs.clear();
    },
    async close() {
      for (const [client, upstream] of pairs) {
        client.destroy();
        upstream.destroy();
      }
      pairs.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  onTestFinished(() => proxy.close());
  return proxy;
}
