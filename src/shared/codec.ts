/**
 * How ChatMessage and PresenceEvent records look on Kafka: binary protobuf values, a
 * conversation key that keeps both directions of one conversation on one partition, and
 * headers that let a chat server skip a record for nobody it holds without decoding it.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { type Timestamp, timestampDate, timestampFromMs, timestampMs } from '@bufbuild/protobuf/wkt';
import type { IHeaders, Message } from 'kafkajs';
import { type ChatMessage, ChatMessageSchema } from '../../gen/chat/v1/message_pb.js';
import { type PresenceEvent, PresenceEventSchema } from '../../gen/chat/v1/presence_pb.js';

/** Header names on chat.messages records. */
export const HEADER_SENDER = 'sender';
export const HEADER_RECIPIENT = 'recipient';

/**
 * The conversation of two users, the same whichever of them sends. User ids never contain
 * control characters (validated at the edge), so NUL is a safe separator.
 */
export function conversationKey(a: string, b: string): string {
  return a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`;
}

/** The Kafka record for a chat message. */
export function chatMessageRecord(message: ChatMessage): Message {
  return {
    key: conversationKey(message.senderId, message.recipientId),
    value: Buffer.from(toBinary(ChatMessageSchema, message)),
    headers: { [HEADER_SENDER]: message.senderId, [HEADER_RECIPIENT]: message.recipientId },
  };
}

/** Decodes a chat.messages value; throws on bytes that are not a ChatMessage. */
export function decodeChatMessage(value: Uint8Array): ChatMessage {
  return fromBinary(ChatMessageSchema, value);
}

/** A header value as a string ('' when absent). */
export function headerString(headers: IHeaders | undefined, name: string): string {
  const value = headers?.[name];
  if (value === undefined) return '';
  if (Array.isArray(value)) return value[0]?.toString() ?? '';
  return value.toString();
}

/** The Kafka key of a presence record: one per (user, chat server). */
export function presenceKey(userId: string, serverId: string): string {
  return `${userId}/${serverId}`;
}

/** The Kafka record for a presence event. */
export function presenceRecord(event: PresenceEvent): Message {
  return {
    key: presenceKey(event.presence?.userId ?? '', event.serverId),
    value: Buffer.from(toBinary(PresenceEventSchema, event)),
  };
}

/** Decodes a chat.presence value. */
export function decodePresenceEvent(value: Uint8Array): PresenceEvent {
  return fromBinary(PresenceEventSchema, value);
}

/** Builds a ChatMessage. */
export function newChatMessage(fields: {
  messageId: string;
  clientMessageId: string;
  senderId: string;
  recipientId: string;
  body: string;
  sentAtMs: number;
}): ChatMessage {
  return create(ChatMessageSchema, {
    messageId: fields.messageId,
    clientMessageId: fields.clientMessageId,
    senderId: fields.senderId,
    recipientId: fields.recipientId,
    body: fields.body,
    sentAt: timestampFromMs(fields.sentAtMs),
  });
}

/** Milliseconds of an optional Timestamp (0 when unset). */
export function msOf(ts: Timestamp | undefined): number {
  return ts ? timestampMs(ts) : 0;
}

/** Date of an optional Timestamp (epoch when unset). */
export function dateOf(ts: Timestamp | undefined): Date {
  return ts ? timestampDate(ts) : new Date(0);
}
