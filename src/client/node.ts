/**
 * Node.js glue for the SDK: sockets from `ws` with the token in an Authorization header (not in
 * the URL, so it never lands in access logs).
 */
import WebSocket from 'ws';
import { ChatClient, type ChatClientOptions } from './chat-client.js';
import type { WebSocketFactory, WebSocketLike } from './websocket.js';

/** Opens `ws` sockets authenticated with `Authorization: Bearer`. */
export const nodeWebSocket: WebSocketFactory = (url, token) =>
  new WebSocket(url, {
    headers: { authorization: `Bearer ${token}` },
    perMessageDeflate: false,
  }) as unknown as WebSocketLike;

/** A ChatClient that uses `ws`. */
export function createNodeChatClient(options: Omit<ChatClientOptions, 'webSocket'>): ChatClient {
  return new ChatClient({ ...options, webSocket: nodeWebSocket });
}
