/**
 * WebSocket close codes of the chat protocol, in one table. Clients act on them: 1012 and 1013
 * mean "reconnect (through discovery)", 4000 means "you went silent", the rest are bugs or abuse.
 */

/** Why the server closed a socket, and the code it used. */
export const CLOSE = {
  /** Normal closure (server shutdown after drain, or the client asked). */
  NORMAL: { code: 1000, reason: 'bye' },
  /** Repeated text frames: this endpoint only speaks binary protobuf. */
  UNSUPPORTED_DATA: { code: 1003, reason: 'binary frames only' },
  /** Repeated binary frames that are not a ClientFrame. */
  INVALID_PAYLOAD: { code: 1007, reason: 'invalid frames' },
  /** A frame over max_frame_bytes (sent by ws itself through maxPayload). */
  TOO_BIG: { code: 1009, reason: 'frame too large' },
  /** The server is draining: reconnect through discovery. */
  SERVICE_RESTART: { code: 1012, reason: 'service restart' },
  /** Catch-up could not complete, or the reader stalled: reconnect later; nothing is lost. */
  TRY_AGAIN_LATER: { code: 1013, reason: 'try again later' },
  /** No frame for 3 heartbeat intervals. */
  HEARTBEAT_TIMEOUT: { code: 4000, reason: 'heartbeat timeout' },
} as const;

/** One entry of {@link CLOSE}. */
export type CloseReason = (typeof CLOSE)[keyof typeof CLOSE];
