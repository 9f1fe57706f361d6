/** A ChatMessage survives a real Kafka round trip as binary protobuf. */
import { equals } from '@bufbuild/protobuf';
import { describe, expect, it, onTestFinished } from 'vitest';
import { type ChatMessage, ChatMessageSchema } from '../../gen/chat/v1/message_pb.js';
import {
  chatMessageRecord,
  conversationKey,
  decodeChatMessage,
  HEADER_RECIPIENT,
  HEADER_SENDER,
  headerString,
  newChatMessage,
} from '../../src/shared/codec.js';
import { newMessageId } from '../../src/shared/ids.js';
import { fastConsumerConfig } from '../../src/shared/kafka.js';
import { testKafka, testTopics, unique } from '../helpers/infra.js';

describe('Kafka round trip', () => {
  it('produces binary ChatMessages and consumes them equal, in order, keyed by conversation', async () => {
    const topics = await testTopics();
    const kafka = testKafka();
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    const consumer = kafka.consumer(fastConsumerConfig(unique('group')));
    onTestFinished(async () => {
      await producer.disconnect();
      await consumer.disconnect();
    });
    const alice = unique('alice');
    const bob = unique('bob');
    const sent: ChatMessage[] = Array.from({ length: 20 }, (_, i) =>
      newChatMessage({
        messageId: newMessageId(),
        clientMessageId: `c${i}`,
        senderId: i % 2 ? alice : bob,
        recipientId: i % 2 ? bob : alice,
        body: `hello ${i} ✓ \u0000 '; drop table messages; --`,
        sentAtMs: Date.now(),
      }),
    );
    await producer.connect();
    await producer.send({ topic: topics.messages, acks: -1, messages: sent.map(chatMessageRecord) });

    const received: ChatMessage[] = [];
    const keys = new Set<string>();
    const headers: string[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic: topics.messages, fromBeginning: true });
    const done = new Promise<void>((resolve) => {
      void consumer.run({
        eachMessage: async ({ message }) => {
          received.push(decodeChatMessage(message.value!));
          keys.add(message.key!.toString());
          headers.push(
            `${headerString(message.headers, HEADER_SENDER)}>${headerString(message.headers, HEADER_RECIPIENT)}`,
          );
          if (received.length === sent.length) resolve();
        },
      });
    });
    await done;
    expect(received).toHaveLength(sent.length);
    for (const [i, m] of received.entries()) expect(equals(ChatMessageSchema, m, sent[i]!)).toBe(true);
    // Both directions share one key, hence one partition, hence one order.
    expect([...keys]).toEqual([conversationKey(alice, bob)]);
    expect(headers[1]).toBe(`${alice}>${bob}`);
  });
});
