/**
 * The chat SDK. Browser-safe: import `createNodeChatClient` from './node.js' in Node.
 */
export { type BackoffOptions, backoffDelay } from './backoff.js';
export { ChatClient, type ChatClientOptions, type ChatClientState, type SendOptions } from './chat-client.js';
export { ChatClientError, type ChatClientErrorCode } from './errors.js';
export { browserWebSocket, type WebSocketFactory, type WebSocketLike } from './websocket.js';
