/**
 * Decoding and validating client frames, encoding server frames. Pure functions: every bad
 * input becomes a typed ChatBackendError, never an exception that escapes a connection.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import {
  CatchUpDoneSchema,
  ChatErrorSchema,
  type ClientFrame,
  ClientFrameSchema,
  type Heartbeat,
  HeartbeatAckSchema,
  type SendMessage,
  type ServerFrame,
  ServerFrameSchema,
} from '../../gen/chat/v1/frames_pb.js';
import type { ChatMessage } from '../../gen/chat/v1/message_pb.js';
import { ChatBackendError, type ChatErrorCode, toWire } from '../shared/errors.js';
import { checkUserId, utf8Length } from '../shared/limits.js';

/** A validated client frame. */
export type ClientAction = { kind: 'send'; send: SendMessage } | { kind: 'heartbeat'; heartbeat: Heartbeat };

/**
 * Decodes one binary WebSocket frame. Throws CHAT_ERR_INVALID_FRAME for bytes that are not a
 * ClientFrame (or carry no frame), CHAT_ERR_INVALID_ARGUMENT for a bad recipient or
 * client_message_id, CHAT_ERR_TOO_LARGE for a body over maxBodyBytes. The thrown error carries
 * the client_message_id when one could be read, so the client can match it.
 */
export function parseClientFrame(data: Uint8Array, maxBodyBytes: number): ClientAction {
  let frame: ClientFrame;
  try {
    frame = fromBinary(ClientFrameSchema, data);
  } catch (err) {
    throw new ChatBackendError('CHAT_ERR_INVALID_FRAME', 'the frame is not a ClientFrame', { cause: err });
  }
  switch (frame.frame.case) {
    case 'heartbeat':
      return { kind: 'heartbeat', heartbeat: frame.frame.value };
    case 'send': {
      const send = frame.frame.value;
      try {
        checkUserId(send.clientMessageId, 'client_message_id');
        checkUserId(send.recipientId, 'recipient_id');
        if (utf8Length(send.body) > maxBodyBytes) {
          throw new ChatBackendError('CHAT_ERR_TOO_LARGE', `body is over ${maxBodyBytes} bytes`);
        }
      } catch (err) {
        if (ChatBackendError.is(err)) throw new FrameError(err, send.clientMessageId);
        throw err;
      }
      return { kind: 'send', send };
    }
    default:
      throw new ChatBackendError('CHAT_ERR_INVALID_FRAME', 'the ClientFrame carries no frame');
  }
}

/** A validation error that answers a SendMessage (carries its client_message_id). */
export class FrameError extends ChatBackendError {
  readonly clientMessageId: string;
  constructor(inner: ChatBackendError, clientMessageId: string) {
    super(inner.code, inner.message);
    this.clientMessageId = clientMessageId;
  }
}

/** Encodes a server frame. */
export function encodeServerFrame(frame: ServerFrame['frame']): Uint8Array {
  return toBinary(ServerFrameSchema, create(ServerFrameSchema, { frame }));
}

/** A ChatError frame for an internal code; `message` must be safe to show a client. */
export function errorFrame(code: ChatErrorCode, message: string, clientMessageId = ''): Uint8Array {
  return encodeServerFrame({
    case: 'error',
    value: create(ChatErrorSchema, { code: toWire(code).frame, message, clientMessageId }),
  });
}

/** A ChatMessage frame. */
export function messageFrame(message: ChatMessage): Uint8Array {
  return encodeServerFrame({ case: 'message', value: message });
}

/** ServerFrame.message's field number (frames.proto). */
const SERVER_FRAME_MESSAGE_FIELD = ServerFrameSchema.fields.find((f) => f.localName === 'message')!.number;

/**
 * A ChatMessage frame around an already encoded ChatMessage (a Kafka record's value), without
 * decoding and re-encoding it: an embedded message is its own bytes, length-delimited. Equal
 * byte for byte to messageFrame(decodeChatMessage(encoded)) for what this server produced, and
 * fields a newer producer added reach the client unchanged.
 */
export function messageFrameFromEncoded(encoded: Uint8Array): Uint8Array {
  return new BinaryWriter().tag(SERVER_FRAME_MESSAGE_FIELD, WireType.LengthDelimited).bytes(encoded).finish();
}

/** A HeartbeatAck frame. */
export function heartbeatAckFrame(nowMs: number): Uint8Array {
  return encodeServerFrame({
    case: 'heartbeatAck',
    value: create(HeartbeatAckSchema, { serverTime: timestampFromMs(nowMs) }),
  });
}

/** A CatchUpDone frame. */
export function catchUpDoneFrame(delivered: number, fromMs: number): Uint8Array {
  return encodeServerFrame({
    case: 'catchUpDone',
    value: create(CatchUpDoneSchema, { delivered, from: timestampFromMs(fromMs) }),
  });
}
