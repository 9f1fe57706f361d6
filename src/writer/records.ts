/**
 * Turning Kafka records into database rows. Every record of a batch ends up as exactly one of:
 * a row to store, a dead letter (it can never be stored, so it must not block its partition),
 * or nothing (a presence event that carries no read cursor, a compaction tombstone).
 */
import type { KafkaMessage } from 'kafkajs';
import { decodeChatMessage, decodePresenceEvent, msOf } from '../shared/codec.js';
import { checkUserId } from '../shared/limits.js';

/** One chat message, as the messages table stores it. */
export interface MessageRow {
  messageId: string;
  clientMessageId: string;
  senderId: string;
  recipientId: string;
  /** UTF-8 bytes of the body. */
  body: Buffer;
  /** sent_at in ms since the epoch. */
  sentAtMs: number;
  /** Kafka offset of the record (a decimal string, as kafkajs gives it). */
  offset: string;
  /** The raw record key, kept in case PostgreSQL refuses the row and it becomes a dead letter. */
  key: Buffer | null;
  /** The raw record value, for the same reason. */
  value: Buffer;
}

/** A user's read cursor from a presence event. */
export interface ReadCursor {
  userId: string;
  lastReadMs: number;
}

/** A record that cannot be stored, kept with its raw bytes for inspection. */
export interface DeadLetter {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  error: string;
}

/** What one Kafka batch of chat.messages turns into. */
export interface MessageBatch {
  rows: MessageRow[];
  deadLetters: DeadLetter[];
}

/** What one Kafka batch of chat.presence turns into. */
export interface PresenceBatch {
  /** At most one cursor per user: the newest in the batch. */
  cursors: ReadCursor[];
  deadLetters: DeadLetter[];
}

// PostgreSQL timestamptz covers far more, but a time outside years 1970..9999 is a bug upstream.
const MAX_TIME_MS = 253402300799999;

/** A dead letter for a record and the reason it cannot be stored. */
export function deadLetter(message: KafkaMessage, error: unknown): DeadLetter {
  return {
    offset: message.offset,
    key: message.key ?? null,
    value: message.value ?? null,
    error: error instanceof Error ? error.message : String(error),
  };
}

function checkTime(ms: number, what: string): void {
  if (!Number.isFinite(ms) || ms <= 0 || ms > MAX_TIME_MS)
    throw new Error(`${what} is missing or out of range`);
}

/** Decodes and validates one chat.messages record; throws with the reason it cannot be stored. */
export function messageRow(message: KafkaMessage): MessageRow {
  if (!message.value) throw new Error('record has no value');
  let decoded: ReturnType<typeof decodeChatMessage>;
  try {
    decoded = decodeChatMessage(message.value);
  } catch (err) {
    throw new Error(`not a ChatMessage: ${err instanceof Error ? err.message : String(err)}`);
  }
  checkUserId(decoded.messageId, 'message_id');
  checkUserId(decoded.clientMessageId, 'client_message_id');
  checkUserId(decoded.senderId, 'sender_id');
  checkUserId(decoded.recipientId, 'recipient_id');
  const sentAtMs = msOf(decoded.sentAt);
  checkTime(sentAtMs, 'sent_at');
  return {
    messageId: decoded.messageId,
    clientMessageId: decoded.clientMessageId,
    senderId: decoded.senderId,
    recipientId: decoded.recipientId,
    body: Buffer.from(decoded.body, 'utf8'),
    sentAtMs,
    offset: message.offset,
    key: message.key ?? null,
    value: message.value,
  };
}

/** Splits a batch of chat.messages records into rows and dead letters. */
export function messageBatch(messages: readonly KafkaMessage[]): MessageBatch {
  const rows: MessageRow[] = [];
  const deadLetters: DeadLetter[] = [];
  for (const message of messages) {
    try {
      rows.push(messageRow(message));
    } catch (err) {
      deadLetters.push(deadLetter(message, err));
    }
  }
  return { rows, deadLetters };
}

/**
 * The read cursor of one chat.presence record, or undefined when it carries none (an event
 * without last_read_timestamp, or a compaction tombstone). Throws when it cannot be decoded.
 */
export function readCursor(message: KafkaMessage): ReadCursor | undefined {
  if (!message.value || message.value.length === 0) return undefined;
  let event: ReturnType<typeof decodePresenceEvent>;
  try {
    event = decodePresenceEvent(message.value);
  } catch (err) {
    throw new Error(`not a PresenceEvent: ${err instanceof Error ? err.message : String(err)}`);
  }
  const presence = event.presence;
  if (!presence?.lastReadTimestamp) return undefined;
  checkUserId(presence.userId, 'user_id');
  const lastReadMs = msOf(presence.lastReadTimestamp);
  checkTime(lastReadMs, 'last_read_timestamp');
  return { userId: presence.userId, lastReadMs };
}

/** Splits a batch of chat.presence records into the newest cursor per user and dead letters. */
export function presenceBatch(messages: readonly KafkaMessage[]): PresenceBatch {
  const newest = new Map<string, number>();
  const deadLetters: DeadLetter[] = [];
  for (const message of messages) {
    try {
      const cursor = readCursor(message);
      if (cursor && (newest.get(cursor.userId) ?? 0) < cursor.lastReadMs) {
        newest.set(cursor.userId, cursor.lastReadMs);
      }
    } catch (err) {
      deadLetters.push(deadLetter(message, err));
    }
  }
  return { cursors: [...newest].map(([userId, lastReadMs]) => ({ userId, lastReadMs })), deadLetters };
}
