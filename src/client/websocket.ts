/**
 * The part of the WebSocket API the SDK uses, met by browsers' global WebSocket and by `ws`.
 * A factory opens one socket for a URL and token: browsers put the token in `?token=` (they
 * cannot set headers on a WebSocket); Node sends `Authorization: Bearer` (see node.ts).
 */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
}

/** Opens a socket to `url` authenticated with `token`. */
export type WebSocketFactory = (url: string, token: string) => WebSocketLike;

/** The browser factory: the global WebSocket with the token in the query string. */
export const browserWebSocket: WebSocketFactory = (url, token) => {
  const u = new URL(url);
  u.searchParams.set('token', token);
  return new WebSocket(u.toString()) as unknown as WebSocketLike;
};

/** WebSocket.OPEN. */
export const OPEN = 1;
