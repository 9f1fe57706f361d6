/** Which Kafka records become rows, dead letters or nothing. */
import { create, toBinary } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import type { KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { PresenceEventSchema } from '../../../gen/chat/v1/presence_pb.js';
import { chatMessageRecord, newChatMessage } from '../../../src/shared/codec.js';
import { messageBatch, presenceBatch } from '../../../src/writer/records.js';

function record(value: Buffer | null, offset: number, key: Buffer | null = null): KafkaMessage {
  const message = { key, value, offset: String(offset), timestamp: '0', attributes: 0, size: 0, headers: {} };
  return message as unknown as KafkaMessage;
}

const message = (fields: Partial<Parameters<typeof newChatMessage>[0]> = {}) =>
  chatMessageRecord(
    newChatMessage({
      messageId: '01JEXAMPLE0000000000000000',
      clientMessageId: 'c1',
      senderId: 'alice',
      recipientId: 'bob',
      body: 'hi \u0000 ✓',
      sentAtMs: 1_700_000_000_123,
      ...fields,
    }),
  ).value as Buffer;

const presence = (userId: string, lastReadMs?: number) =>
  Buffer.from(
    toBinary(
      PresenceEventSchema,
      create(PresenceEventSchema, {
        serverId: 's',
        presence: {
          userId,
          online: true,
          ...(lastReadMs ? { lastReadTimestamp: timestampFromMs(lastReadMs) } : {}),
        },
      }),
    ),
  );

describe('messageBatch', () => {
  it('turns valid records into rows with the body as UTF-8 bytes and ms times', () => {
    const { rows, deadLetters } = messageBatch([record(message(), 7)]);
    expect(deadLetters).toEqual([]);
    expect(rows).toEqual([
      expect.objectContaining({
        messageId: '01JEXAMPLE0000000000000000',
        clientMessageId: 'c1',
        senderId: 'alice',
        recipientId: 'bob',
        body: Buffer.from('hi \u0000 ✓', 'utf8'),
        sentAtMs: 1_700_000_000_123,
        offset: '7',
      }),
    ]);
  });

  it.each([
    ['undecodable bytes', Buffer.from([0xff, 0xff, 0xff]), /not a ChatMessage/],
    ['no value', null, /no value/],
    ['an empty message_id', message({ messageId: '' }), /message_id is empty/],
    ['an empty sender', message({ senderId: '' }), /sender_id is empty/],
    ['an oversized recipient', message({ recipientId: 'r'.repeat(129) }), /recipient_id is longer/],
    [
      'a control character in client_message_id',
      message({ clientMessageId: 'a\u0000b' }),
      /control characters/,
    ],
    ['no sent_at', message({ sentAtMs: 0 }), /sent_at/],
  ])('dead-letters a record with %s, keeping its raw bytes', (_, value, error) => {
    const key = Buffer.from('k');
    const { rows, deadLetters } = messageBatch([record(message(), 1), record(value, 2, key)]);
    expect(rows).toHaveLength(1);
    expect(deadLetters).toEqual([{ offset: '2', key, value, error: expect.stringMatching(error) }]);
  });
});

describe('presenceBatch', () => {
  it('keeps the newest cursor per user and ignores events without one and tombstones', () => {
    const { cursors, deadLetters } = presenceBatch([
      record(presence('u1', 5000), 0),
      record(presence('u1', 3000), 1),
      record(presence('u2', 1000), 2),
      record(presence('u3'), 3),
      record(null, 4),
    ]);
    expect(deadLetters).toEqual([]);
    expect(cursors).toEqual([
      { userId: 'u1', lastReadMs: 5000 },
      { userId: 'u2', lastReadMs: 1000 },
    ]);
  });

  it('dead-letters undecodable events and cursors without a valid user', () => {
    const { cursors, deadLetters } = presenceBatch([
      record(Buffer.from([0xff, 0xff]), 0),
      record(presence('', 1000), 1),
    ]);
    expect(cursors).toEqual([]);
    expect(deadLetters.map((d) => d.offset)).toEqual(['0', '1']);
  });
});
