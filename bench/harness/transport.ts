/**
 * How the load generator talks to a server: one simulated user = one connection. Two
 * transports speak the same workload: our protobuf frames over `ws` (the chat servers and the
 * bare relay) and Socket.IO (the peer).
 */

/** What a connection reports back to the generator. */
export interface UserEvents {
  /** The server acknowledged a send. */
  onAck(clientMessageId: string): void;
  /** A message addressed to this user arrived on its socket. */
  onDeliver(clientMessageId: string): void;
  /** The server refused a send (error code name). */
  onError(clientMessageId: string, code: string): void;
  /** A HeartbeatAck came back, ms after its Heartbeat. */
  onHeartbeatRtt(ms: number): void;
  /** The connection closed unexpectedly. */
  onClose(code: number, reason: string): void;
}

/** One connected simulated user. */
export interface SimUser {
  send(clientMessageId: string, recipientId: string, body: string): void;
  close(): void;
}

/** Opens the connection of one user (to server `serverIndex` of the transport's list) and resolves once it may send. */
export type Connector = (userId: string, serverIndex: number, events: UserEvents) => Promise<SimUser>;

/** Serialisable description of a transport, sent to generator processes. */
export type TransportSpec =
  | {
      kind: 'frames';
      /** WebSocket URLs of the servers (ws://host:port/ws). */
      urls: string[];
      /** HS256 secret to mint each user's token. */
      authSecret: string;
      /** Send Heartbeats at the Welcome interval. Default true. */
      heartbeats?: boolean;
      /** Source addresses to spread connections over (127.0.x.y), round-robin. Default: the OS choice. */
      localAddresses?: string[];
    }
  | {
      kind: 'socketio';
      /** Base URLs of the Socket.IO instances (http://host:port). */
      urls: string[];
      authSecret: string;
    };
