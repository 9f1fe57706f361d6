/**
 * The same workload over Socket.IO, for the peer (bench/peers/socketio.ts): the token in the
 * handshake `auth`, `send` events acknowledged by callback, `message` events to the recipient.
 */
import { io } from 'socket.io-client';
import { signToken } from '../../src/shared/auth.js';
import type { Connector, SimUser, TransportSpec } from './transport.js';

/** Payload of the peer's `send` event. */
export interface PeerSend {
  cmid: string;
  to: string;
  body: string;
}

/** Payload of the peer's `message` event. */
export interface PeerMessage {
  id: string;
  cmid: string;
  from: string;
  to: string;
  body: string;
  sentAt: number;
}

/** Ack of the peer's `send` event. */
export type PeerAck = { ok: true; id: string; sentAt: number } | { ok: false; error: string };

/** A connector for the Socket.IO peer. */
export function socketIoConnector(
  spec: Extract<TransportSpec, { kind: 'socketio' }>,
  connectTimeoutMs = 30000,
): Connector {
  return async (userId, serverIndex, events) => {
    const token = await signToken(userId, { secret: spec.authSecret });
    const socket = io(spec.urls[serverIndex % spec.urls.length]!, {
      transports: ['websocket'],
      auth: { token },
      reconnection: false,
      timeout: connectTimeoutMs,
    });
    socket.on('message', (m: PeerMessage) => {
      if (m.to === userId) events.onDeliver(m.cmid);
    });
    const user: SimUser = {
      send(cmid, to, body) {
        socket.emit('send', { cmid, to, body } satisfies PeerSend, (ack: PeerAck) => {
          if (ack.ok) events.onAck(cmid);
          else events.onError(cmid, ack.error);
        });
      },
      close() {
        socket.close();
      },
    };
    return new Promise<SimUser>((resolve, reject) => {
      socket.once('connect', () => {
        socket.on('disconnect', (reason) => events.onClose(0, reason));
        resolve(user);
      });
      socket.once('connect_error', (err) => reject(new Error(`${userId}: ${err.message}`)));
    });
  };
}
