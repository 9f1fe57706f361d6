import { describe, expect, it } from 'vitest';
import {
  chatMessageRecord,
  conversationKey,
  decodeChatMessage,
  newChatMessage,
} from '../../../src/shared/codec.js';

describe('codec', () => {
  it('keys both directions of a conversation the same, and different pairs differently', () => {
    expect(conversationKey('alice', 'bob')).toBe(conversationKey('bob', 'alice'));
    expect(conversationKey('a', 'bc')).not.toBe(conversationKey('ab', 'c'));
  });

  it('puts sender and recipient in headers and the message in the value', () => {
    const message = newChatMessage({
      messageId: '01J0000000000000000000000A',
      clientMessageId: 'c1',
      senderId: 'alice',
      recipientId: 'bob',
      body: 'hi',
      sentAtMs: 1700000000123,
    });
    const record = chatMessageRecord(message);
    expect(record.headers).toEqual({ sender: 'alice', recipient: 'bob' });
    expect(decodeChatMessage(record.value as Buffer)).toEqual(message);
  });
});
