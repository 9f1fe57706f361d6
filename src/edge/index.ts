/**
 * The chat server (WebSocket edge): authenticated binary protobuf frames, Kafka routing,
 * heartbeats and presence, catch-up with no gap and no duplicate, graceful drain.
 * Protocol: docs/protocol.md.
 */
export { CLOSE, type CloseReason } from './close-codes.js';
export { type EdgeOptions, readEdgeEnv } from './config.js';
export { createEdgeServer, type EdgeServer } from './server.js';
