/**
 * One cleartext port for HTTP/2 (gRPC with prior knowledge, Connect, gRPC-Web) and HTTP/1.1
 * (Connect and gRPC-Web from browsers and curl).
 *
 * Node 20's `http2.createServer` refuses HTTP/1.1 (`allowHTTP1` only works with TLS, where
 * ALPN picks the protocol). Without TLS the client's first bytes tell: an HTTP/2 connection
 * starts with the fixed preface "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", HTTP/1.1 with a method. The
 * TCP server peeks at those bytes, puts them back and hands the socket to the right server.
 */
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';

/** Handles a request from either protocol (connect-node's adapter does). */
export type DualHandler = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
/** How much must arrive to tell the protocols apart ("PRI " vs "POST", "PUT ", "PATC"...). */
const SNIFF_BYTES = 4;
/** A connection that sends nothing for this long is closed, in ms. */
const SNIFF_TIMEOUT_MS = 10_000;

/** Options of {@link createDualServer}. */
export interface DualServerOptions {
  /**
   * An HTTP/2 connection with no stream open and no frame for this long is closed gracefully
   * (GOAWAY; clients reconnect on their next call), in ms. 0 = never. Default 300000 (5 min).
   */
  http2IdleTimeoutMs?: number;
}

/** The TCP listener and the two protocol servers behind it. */
export interface DualServer {
  readonly tcp: net.Server;
  readonly h1: http.Server;
  readonly h2: http2.Http2Server;
  /** Every open TCP connection (to cut the stragglers on close). */
  readonly sockets: ReadonlySet<net.Socket>;
  /** Closes HTTP/1.1 connections with no request in flight, and the others once they finish. */
  closeIdleHttp1(): void;
}

/** Creates the servers; call `tcp.listen(...)` to serve. */
export function createDualServer(handler: DualHandler, options: DualServerOptions = {}): DualServer {
  const h2 = http2.createServer({}, handler);
  // Without a timeout an idle HTTP/2 connection is held forever. Node calls the 'timeout'
  // listener with the session after that long without a frame; a session with streams still
  // open (a quiet Health.Watch, say) is left alone.
  const idleMs = options.http2IdleTimeoutMs ?? 300_000;
  if (idleMs > 0) {
    const open = new WeakMap<http2.Http2Session, number>();
    h2.on('stream', (stream) => {
      const session = stream.session;
      if (!session) return;
      open.set(session, (open.get(session) ?? 0) + 1);
      stream.once('close', () => open.set(session, (open.get(session) ?? 1) - 1));
    });
    h2.setTimeout(idleMs);
    h2.on('timeout', (session: http2.Http2Session) => {
      if (!session.closed && !session.destroyed && !open.get(session)) session.close();
    });
  }
  // The HTTP/1.1 server never listens itself, so its own idle-connection tracking is off:
  // count requests in flight per socket here.
  const busy = new Map<net.Socket, number>();
  let closing = false;
  const h1 = http.createServer({ keepAliveTimeout: 5000 }, (req, res) => {
    const socket = req.socket;
    busy.set(socket, (busy.get(socket) ?? 0) + 1);
    res.once('close', () => {
      const left = (busy.get(socket) ?? 1) - 1;
      busy.set(socket, left);
      if (closing && left === 0) socket.destroySoon();
    });
    handler(req, res);
  });
  const sockets = new Set<net.Socket>();
  const http1Sockets = new Set<net.Socket>();
  const tcp = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.setTimeout(SNIFF_TIMEOUT_MS, () => socket.destroy());
    let head = Buffer.alloc(0);
    const onReadable = () => {
      for (;;) {
        const chunk: Buffer | null = socket.read();
        if (chunk === null) break;
        head = Buffer.concat([head, chunk]);
      }
      if (head.length < SNIFF_BYTES) return;
      socket.off('readable', onReadable);
      socket.setTimeout(0);
      socket.unshift(head);
      const isH2 = head.subarray(0, SNIFF_BYTES).equals(PREFACE.subarray(0, SNIFF_BYTES));
      if (isH2) {
        h2.emit('connection', socket);
      } else {
        http1Sockets.add(socket);
        socket.once('close', () => {
          http1Sockets.delete(socket);
          busy.delete(socket);
        });
        h1.emit('connection', socket);
      }
    };
    socket.on('readable', onReadable);
    socket.once('end', () => {
      if (head.length < SNIFF_BYTES) socket.destroy();
    });
  });
  return {
    tcp,
    h1,
    h2,
    sockets,
    closeIdleHttp1() {
      closing = true;
      for (const socket of http1Sockets) if (!busy.get(socket)) socket.destroySoon();
    },
  };
}
