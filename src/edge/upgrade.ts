/**
 * The WebSocket upgrade's gatekeeping, before any socket exists: path, draining, Origin
 * allow-list, and the access token (Authorization: Bearer, or ?token= for browsers, which
 * cannot set headers on a WebSocket). A refusal is a plain HTTP response on the raw socket.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { verifyToken } from '../shared/auth.js';
import { ChatBackendError } from '../shared/errors.js';

/** The path clients open. */
export const WS_PATH = '/ws';

/** Why an upgrade was refused, as an HTTP status. */
export class UpgradeRefused extends Error {
  constructor(
    readonly status: 401 | 403 | 404 | 503,
    message: string,
  ) {
    super(message);
  }
}

/** The token from the upgrade request (header first, then query), or undefined. */
export function tokenOf(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (header) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return m?.[1];
  }
  const url = new URL(req.url ?? '/', 'http://localhost');
  return url.searchParams.get('token') ?? undefined;
}

/** Checks an upgrade request; resolves with the user id or throws {@link UpgradeRefused}. */
export async function authorizeUpgrade(
  req: IncomingMessage,
  options: { secret: string; allowedOrigins: string[] | undefined; draining: boolean },
): Promise<string> {
  const path = (req.url ?? '/').split('?')[0];
  if (path !== WS_PATH) throw new UpgradeRefused(404, 'not found');
  if (options.draining) throw new UpgradeRefused(503, 'draining; ask discovery for another server');
  const origin = req.headers.origin;
  if (options.allowedOrigins && origin !== undefined && !options.allowedOrigins.includes(origin)) {
    throw new UpgradeRefused(403, 'origin not allowed');
  }
  try {
    return await verifyToken(tokenOf(req), { secret: options.secret });
  } catch (err) {
    if (ChatBackendError.is(err, 'CHAT_ERR_UNAUTHENTICATED')) throw new UpgradeRefused(401, err.message);
    throw err;
  }
}

const STATUS_TEXT: Record<number, string> = {
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** Answers a refused upgrade with an HTTP response and closes the socket. */
export function refuseUpgrade(socket: Duplex, status: number, message: string): void {
  if (socket.destroyed) return;
  const body = `${message}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\n` +
      'Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
