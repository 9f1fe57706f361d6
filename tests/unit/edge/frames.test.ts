import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClientFrameSchema, ErrorCode, ServerFrameSchema } from '../../../gen/chat/v1/frames_pb.js';
import { ChatMessageSchema } from '../../../gen/chat/v1/message_pb.js';
import {
  errorFrame,
  FrameError,
  messageFrame,
  messageFrameFromEncoded,
  parseClientFrame,
} from '../../../src/edge/frames.js';
import { newChatMessage } from '../../../src/shared/codec.js';
import { ChatBackendError } from '../../../src/shared/errors.js';

const send = (recipientId: string, body: string, clientMessageId: string) =>
  toBinary(
    ClientFrameSchema,
    create(ClientFrameSchema, { frame: { case: 'send', value: { recipientId, body, clientMessageId } } }),
  );

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return ChatBackendError.is(err) ? err.code : 'OTHER';
  }
}

describe('parseClientFrame', () => {
  it('accepts a valid send and a heartbeat', () => {
    expect(parseClientFrame(send('bob', 'hi', 'c1'), 100)).toMatchObject({
      kind: 'send',
      send: { recipientId: 'bob', body: 'hi', clientMessageId: 'c1' },
    });
    const hb = toBinary(
      ClientFrameSchema,
      create(ClientFrameSchema, { frame: { case: 'heartbeat', value: {} } }),
    );
    expect(parseClientFrame(hb, 100).kind).toBe('heartbeat');
  });

  it('rejects empty frames and undecodable bytes as INVALID_FRAME', () => {
    expect(codeOf(() => parseClientFrame(new Uint8Array(), 100))).toBe('CHAT_ERR_INVALID_FRAME');
    expect(codeOf(() => parseClientFrame(new Uint8Array([0xff, 0xff, 0xff]), 100))).toBe(
      'CHAT_ERR_INVALID_FRAME',
    );
  });

  it('rejects bad ids as INVALID_ARGUMENT and long bodies (in UTF-8 bytes) as TOO_LARGE, with the client_message_id', () => {
    const cases: [Uint8Array, string, string][] = [
      [send('', 'x', 'c'), 'CHAT_ERR_INVALID_ARGUMENT', 'c'],
      [send('b'.repeat(129), 'x', 'c'), 'CHAT_ERR_INVALID_ARGUMENT', 'c'],
      [send('b\n', 'x', 'c'), 'CHAT_ERR_INVALID_ARGUMENT', 'c'],
      [send('bob', 'x', ''), 'CHAT_ERR_INVALID_ARGUMENT', ''],
      [send('bob', 'é'.repeat(51), 'big'), 'CHAT_ERR_TOO_LARGE', 'big'],
    ];
    for (const [bytes, code, cmid] of cases) {
      try {
        parseClientFrame(bytes, 100);
        expect.unreachable();
      } catch (err) {
        expect(err).toBeInstanceOf(FrameError);
        expect([(err as FrameError).code, (err as FrameError).clientMessageId]).toEqual([code, cmid]);
      }
    }
    expect(parseClientFrame(send('bob', 'é'.repeat(50), 'ok'), 100).kind).toBe('send');
  });

  it('never throws anything but a ChatBackendError on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const code = codeOf(() => parseClientFrame(bytes, 100));
        expect(code).not.toBe('OTHER');
      }),
      { numRuns: 2000 },
    );
  });

  it('encodes ChatError with the wire code', () => {
    const frame = fromBinary(ServerFrameSchema, errorFrame('CHAT_ERR_RATE_LIMITED', 'slow down', 'c9'));
    expect(frame.frame).toMatchObject({
      case: 'error',
      value: { code: ErrorCode.RATE_LIMITED, clientMessageId: 'c9' },
    });
  });
});

describe('messageFrameFromEncoded', () => {
  it('is byte for byte the frame of the decoded message, for any message', () => {
    fc.assert(
      fc.property(
        fc.record({
          messageId: fc.string(),
          clientMessageId: fc.string(),
          senderId: fc.string(),
          recipientId: fc.string(),
          body: fc.string({ unit: 'grapheme' }),
          sentAtMs: fc.integer({ min: 0, max: 2 ** 42 }),
        }),
        (m) => {
          const message = newChatMessage(m);
          const encoded = toBinary(ChatMessageSchema, message);
          const frame = messageFrameFromEncoded(encoded);
          expect(frame).toEqual(messageFrame(message));
          const decoded = fromBinary(ServerFrameSchema, frame).frame;
          expect(decoded.case).toBe('message');
          expect(decoded.value).toEqual(message);
        },
      ),
    );
  });

  it('passes on fields a newer producer added', () => {
    const message = newChatMessage({
      messageId: 'm1',
      clientMessageId: 'c1',
      senderId: 'alice',
      recipientId: 'bob',
      body: 'hi',
      sentAtMs: 1,
    });
    // Field 99, varint 7: unknown to this schema.
    const withUnknown = new Uint8Array([...toBinary(ChatMessageSchema, message), 0x98, 0x06, 0x07]);
    const decoded = fromBinary(ServerFrameSchema, messageFrameFromEncoded(withUnknown)).frame;
    expect(decoded.case === 'message' && decoded.value.body).toBe('hi');
    expect(toBinary(ServerFrameSchema, create(ServerFrameSchema, { frame: decoded }))).toEqual(
      messageFrameFromEncoded(withUnknown),
    );
  });
});
