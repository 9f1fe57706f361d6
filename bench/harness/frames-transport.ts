/**
 * The chat protocol over `ws`, written against the frame codec (gen/chat/v1/frames_pb.ts) rather
 * than the SDK so the generator does no de-duplication, resending or discovery work of its own:
 * Welcome -> Heartbeat{last_read_timestamp: now} -> (catch-up) -> CatchUpDone -> ready.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import WebSocket from 'ws';
import { ClientFrameSchema, ErrorCode, ServerFrameSchema } from '../../gen/chat/v1/frames_pb.js';
import { signToken } from '../../src/shared/auth.js';
import type { Connector, SimUser, TransportSpec } from './transport.js';

/** A Heartbeat whose read cursor stays at connect time (a cursor that moves would add presence traffic). */
const heartbeatFrame = (lastReadMs: number) =>
  toBinary(
    ClientFrameSchema,
    create(ClientFrameSchema, {
      frame: { case: 'heartbeat', value: { lastReadTimestamp: timestampFromMs(lastReadMs) } },
    }),
  );

/** A connector for our frame protocol. */
export function framesConnector(
  spec: Extract<TransportSpec, { kind: 'frames' }>,
  connectTimeoutMs = 30000,
): Connector {
  let next = 0;
  return async (userId, serverIndex, events) => {
    const token = await signToken(userId, { secret: spec.authSecret });
    const localAddress = spec.localAddresses?.length
      ? spec.localAddresses[next++ % spec.localAddresses.length]
      : undefined;
    const ws = new WebSocket(spec.urls[serverIndex % spec.urls.length]!, {
      headers: { authorization: `Bearer ${token}` },
      perMessageDeflate: false,
      ...(localAddress ? { localAddress } : {}),
    });
    ws.binaryType = 'nodebuffer';
    let heartbeatTimer: NodeJS.Timeout | undefined;
    let heartbeatSentAt = 0;
    let ready = false;
    const heartbeat = heartbeatFrame(Date.now());
    const sendHeartbeat = () => {
      if (ws.readyState !== WebSocket.OPEN) return;
      heartbeatSentAt = performance.now();
      ws.send(heartbeat);
    };
    const user: SimUser = {
      send(clientMessageId, recipientId, body) {
        ws.send(
          toBinary(
            ClientFrameSchema,
            create(ClientFrameSchema, {
              frame: { case: 'send', value: { clientMessageId, recipientId, body } },
            }),
          ),
        );
      },
      close() {
        clearInterval(heartbeatTimer);
        ws.terminate();
      },
    };
    return new Promise<SimUser>((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error(`${userId}: not ready after ${connectTimeoutMs} ms`));
      }, connectTimeoutMs);
      ws.on('message', (data: Buffer) => {
        const frame = fromBinary(ServerFrameSchema, data).frame;
        switch (frame.case) {
          case 'welcome': {
            sendHeartbeat();
            const interval = frame.value.heartbeatIntervalMs;
            if (spec.heartbeats !== false && interval > 0) {
              // Random phase so thousands of connections do not heartbeat in lockstep.
              setTimeout(() => {
                sendHeartbeat();
                heartbeatTimer = setInterval(sendHeartbeat, interval);
              }, Math.random() * interval).unref();
            }
            break;
          }
          case 'heartbeatAck':
            if (heartbeatSentAt) events.onHeartbeatRtt(performance.now() - heartbeatSentAt);
            heartbeatSentAt = 0;
            break;
          case 'catchUpDone':
            if (!ready) {
              ready = true;
              clearTimeout(timer);
              resolve(user);
            }
            break;
          case 'sendAck':
            events.onAck(frame.value.clientMessageId);
            break;
          case 'message':
            // The sender's own sessions may get an echo; only the recipient's copy counts.
            if (frame.value.recipientId === userId) events.onDeliver(frame.value.clientMessageId);
            break;
          case 'error':
            events.onError(
              frame.value.clientMessageId,
              ErrorCode[frame.value.code] ?? String(frame.value.code),
            );
            break;
          default:
            break;
        }
      });
      ws.on('error', (err) => {
        if (!ready) {
          clearTimeout(timer);
          reject(new Error(`${userId}: ${err.message}`));
        }
      });
      ws.on('close', (code, reason) => {
        clearInterval(heartbeatTimer);
        if (ready) events.onClose(code, String(reason));
        else {
          clearTimeout(timer);
          reject(new Error(`${userId}: closed ${code} ${String(reason)} before ready`));
        }
      });
    });
  };
}
