/**
 * Catch-up: on connect, every stored message of the user after their read cursor, oldest first,
 * then ONE CatchUpDone, then live messages - with no gap and no duplicate at the seam.
 *
 * The seam is a Kafka position, not a time. In one synchronous step the session is registered
 * for live records in BUFFERING mode and the delivery positions are snapshotted as P (see
 * delivery.ts): every record at or above P reaches the session's buffer; every record below P is
 * (after waiting for the writer to commit past P) in PostgreSQL. So:
 * 1. wait until the writer group's committed offsets cover P (shared poller, writer-watermark.ts);
 * 2. page through PostgreSQL by (sent_at, message_id) from cursor - skewMs (the overlap window:
 *    chat servers' clocks differ, and the SDK drops ids it already has); a row whose Kafka
 *    offset is at or above P will also arrive live, so its id is remembered and the live copy
 *    dropped - exact, by (partition, offset), not by time;
 * 3. if the live buffer overflowed meanwhile, it is dropped (remembering the smallest dropped
 *    key), a new snapshot P' is taken in the same synchronous step, the writer is waited for
 *    again and the database read rewinds to that key, skipping ids already sent; the buffer's
 *    room doubles on each rewind, and after maxRewinds catch-up fails (1013, reconnect);
 * 4. flush the buffer (minus ids already sent), paced; once it is empty, send CatchUpDone and
 *    switch to LIVE in one synchronous step, so no live record slips in between.
 * While reading, sending pauses whenever the socket holds more than maxPendingBytes unsent, so a
 * slow reader does not make the server buffer a whole backlog (a reader that never drains goes
 * silent and is closed by the heartbeat timeout).
 */
import { type Kysely, sql } from 'kysely';
import type { ChatMessage } from '../../gen/chat/v1/message_pb.js';
import { newChatMessage } from '../shared/codec.js';
import type { Database } from '../shared/db/schema.js';
import { ChatBackendError } from '../shared/errors.js';
import type { Delivery, LiveRecord, Recipient } from './delivery.js';
import { catchUpDoneFrame, messageFrame } from './frames.js';
import type { Offsets, WriterWatermark } from './writer-watermark.js';

/** A position in catch-up order: (sent_at ms, message_id). */
export interface CatchUpKey {
  ms: number;
  id: string;
}

/** Orders keys like the database does (message_id has collation "C": code-unit order). */
export function compareKeys(a: CatchUpKey, b: CatchUpKey): number {
  if (a.ms !== b.ms) return a.ms < b.ms ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Greater than every message id at the same millisecond (ids are [0-9A-Z]), so "strictly after ms". */
const AFTER_ALL_IDS = '~';

/** Where a sent database row sits in Kafka; offset -1 when unknown (rows stored by the send path). */
interface KafkaPosition {
  partition: number;
  offset: number;
}

/**
 * The live side of one session: buffers records during catch-up, passes them through after.
 * `accept` is called synchronously by delivery for every live record of the user.
 */
export class LiveGate {
  #mode: 'buffering' | 'live' = 'buffering';
  #buffer: LiveRecord[] = [];
  #overflowMin: CatchUpKey | undefined;
  /** Ids sent from the database whose live copy may still arrive. */
  readonly pendingLiveDupes = new Map<string, KafkaPosition>();
  #limit: number;

  constructor(bufferLimit: number) {
    this.#limit = bufferLimit;
  }

  get live(): boolean {
    return this.#mode === 'live';
  }

  get overflowed(): boolean {
    return this.#overflowMin !== undefined;
  }

  /** Returns the record when it should be sent now, undefined when buffered or a duplicate. */
  accept(record: LiveRecord): LiveRecord | undefined {
    if (this.#mode === 'live') {
      if (this.pendingLiveDupes.size > 0 && this.pendingLiveDupes.delete(record.message.messageId))
        return undefined;
      return record;
    }
    if (this.#overflowMin) {
      this.#overflowMin = minKey(this.#overflowMin, keyOf(record.message));
      return undefined;
    }
    this.#buffer.push(record);
    if (this.#buffer.length > this.#limit) {
      let min = keyOf(this.#buffer[0]!.message);
      for (const r of this.#buffer) min = minKey(min, keyOf(r.message));
      this.#overflowMin = min;
      this.#buffer = [];
    }
    return undefined;
  }

  /**
   * Ends an overflow: returns the smallest dropped key and buffers again from here, with twice
   * the room (so sustained traffic cannot make catch-up rewind forever).
   */
  takeOverflow(): CatchUpKey | undefined {
    const min = this.#overflowMin;
    this.#overflowMin = undefined;
    this.#buffer = [];
    this.#limit *= 2;
    return min;
  }

  /** Live records waiting in the buffer. */
  get buffered(): number {
    return this.#buffer.length;
  }

  /** Takes the oldest buffered record, undefined when none. */
  shift(): LiveRecord | undefined {
    return this.#buffer.shift();
  }

  /** Switches to live and returns the buffered records that are not duplicates, in order. */
  goLive(): LiveRecord[] {
    const out = this.#buffer.filter((r) => !this.pendingLiveDupes.delete(r.message.messageId));
    this.#buffer = [];
    this.#mode = 'live';
    return out;
  }
}

function keyOf(m: ChatMessage): CatchUpKey {
  return {
    ms: m.sentAt ? Number(m.sentAt.seconds) * 1000 + Math.floor(m.sentAt.nanos / 1e6) : 0,
    id: m.messageId,
  };
}

function minKey(a: CatchUpKey, b: CatchUpKey): CatchUpKey {
  return compareKeys(a, b) <= 0 ? a : b;
}

/** The session as catch-up sees it. */
export interface CatchUpSession extends Recipient {
  readonly gate: LiveGate;
  /** Aborted when the socket closes. */
  readonly signal: AbortSignal;
  sendFrame(frame: Uint8Array, type: string): void;
  /** Bytes queued on the socket and not yet written. */
  bufferedAmount(): number;
  /** True for a message this connection sent itself (it already has the SendAck). */
  isOwnSend(message: ChatMessage): boolean;
}

/** Dependencies and limits of {@link runCatchUp}. */
export interface CatchUpDeps {
  db: Kysely<Database>;
  delivery: Pick<Delivery, 'register' | 'snapshot' | 'position'>;
  watermark: Pick<WriterWatermark, 'waitFor'>;
  pageSize: number;
  skewMs: number;
  timeoutMs: number;
  /** Pause between pages while the socket holds more unsent bytes than this. */
  maxPendingBytes: number;
  /** Most ids remembered for a rewind after an overflow; beyond it an overflow fails the catch-up. Default 100000. */
  maxRememberedIds?: number;
  /** Most rewinds (each doubles the live buffer) before catch-up gives up with UNAVAILABLE. Default 8. */
  maxRewinds?: number;
}

/** What catch-up did. */
export interface CatchUpResult {
  /** ChatMessage frames sent before CatchUpDone. */
  delivered: number;
  /** The cursor (ms) it started from, before the overlap window. */
  fromMs: number;
  rewinds: number;
}

/** Reads the user's stored read cursor (ms since epoch; 0 when none). */
export async function storedCursor(db: Kysely<Database>, userId: string): Promise<number> {
  const row = await db
    .selectFrom('read_state')
    .select('last_read_at')
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return row ? row.last_read_at.getTime() : 0;
}

interface Row {
  message_id: string;
  client_message_id: string;
  sender_id: string;
  recipient_id: string;
  body: Buffer;
  sent_at: Date;
  kafka_partition: number;
  kafka_offset: string;
}

/**
 * One page of the user's messages (to or from them) after `after`, in (sent_at, message_id)
 * order: two index-ordered scans (recipient index, sender index) each limited to a page, merged.
 */
export async function readPage(
  db: Kysely<Database>,
  userId: string,
  after: CatchUpKey,
  limit: number,
): Promise<Row[]> {
  const at = new Date(after.ms);
  const result = await sql<Row>`
    select * from (
      (select message_id, client_message_id, sender_id, recipient_id, body, sent_at, kafka_partition, kafka_offset
         from messages
        where recipient_id = ${userId} and (sent_at, message_id) > (${at}::timestamptz, ${after.id}::text)
        order by sent_at, message_id limit ${limit})
      union all
      (select message_id, client_message_id, sender_id, recipient_id, body, sent_at, kafka_partition, kafka_offset
         from messages
        where sender_id = ${userId} and recipient_id <> ${userId}
          and (sent_at, message_id) > (${at}::timestamptz, ${after.id}::text)
        order by sent_at, message_id limit ${limit})
    ) m order by sent_at, message_id limit ${limit}`.execute(db);
  return result.rows;
}

function rowMessage(row: Row): ChatMessage {
  return newChatMessage({
    messageId: row.message_id,
    clientMessageId: row.client_message_id,
    senderId: row.sender_id,
    recipientId: row.recipient_id,
    body: row.body.toString('utf8'),
    sentAtMs: row.sent_at.getTime(),
  });
}

async function drained(session: CatchUpSession, maxPendingBytes: number): Promise<void> {
  while (session.bufferedAmount() > maxPendingBytes && !session.signal.aborted) {
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Runs catch-up for a session whose gate is fresh (buffering). Registers the session for live
 * delivery itself. Rejects with CHAT_ERR_UNAVAILABLE when the writer does not catch up in time
 * or PostgreSQL fails; the caller closes the socket (1013) and the client reconnects.
 */
export async function runCatchUp(
  session: CatchUpSession,
  cursorMs: number,
  deps: CatchUpDeps,
): Promise<CatchUpResult> {
  const { gate } = session;
  const maxRemembered = deps.maxRememberedIds ?? 100_000;
  let snapshot: Offsets = deps.delivery.register(session);
  let key: CatchUpKey = { ms: cursorMs - deps.skewMs, id: AFTER_ALL_IDS };
  let sentIds: Set<string> | undefined = new Set();
  let delivered = 0;
  let rewinds = 0;

  for (;;) {
    await deps.watermark.waitFor(snapshot, deps.timeoutMs, session.signal);
    for (;;) {
      if (session.signal.aborted || gate.overflowed) break;
      let rows: Row[];
      try {
        rows = await readPage(deps.db, session.userId, key, deps.pageSize);
      } catch (err) {
        throw new ChatBackendError('CHAT_ERR_UNAVAILABLE', 'history is temporarily unavailable', {
          cause: err,
        });
      }
      if (session.signal.aborted) break;
      for (const row of rows) {
        key = { ms: row.sent_at.getTime(), id: row.message_id };
        if (sentIds?.has(row.message_id)) continue;
        if (sentIds) {
          sentIds.add(row.message_id);
          if (sentIds.size > maxRemembered) sentIds = undefined;
        }
        const offset = Number(row.kafka_offset);
        if (offset < 0 || offset >= (snapshot.get(row.kafka_partition) ?? 0)) {
          gate.pendingLiveDupes.set(row.message_id, { partition: row.kafka_partition, offset });
        }
        const message = rowMessage(row);
        if (session.isOwnSend(message)) continue;
        session.sendFrame(messageFrame(message), 'message');
        delivered++;
        // Large bodies: one page can be megabytes; let a healthy reader keep up row by row.
        if (session.bufferedAmount() > deps.maxPendingBytes) await drained(session, deps.maxPendingBytes);
        if (session.signal.aborted) break;
      }
      if (rows.length < deps.pageSize || session.signal.aborted) break;
    }
    if (session.signal.aborted) return { delivered, fromMs: cursorMs, rewinds };
    // Flush the live buffer, paced like the database rows; records arriving meanwhile queue
    // behind (still in order). Only the final, empty-buffer switch must be synchronous.
    while (gate.buffered > 0 && !gate.overflowed && !session.signal.aborted) {
      const record = gate.shift()!;
      const id = record.message.messageId;
      if (gate.pendingLiveDupes.delete(id) || sentIds?.has(id)) continue;
      if (sentIds) {
        sentIds.add(id);
        if (sentIds.size > maxRemembered) sentIds = undefined;
      }
      session.sendFrame(record.frame(), 'message');
      delivered++;
      if (session.bufferedAmount() > deps.maxPendingBytes) await drained(session, deps.maxPendingBytes);
    }
    if (session.signal.aborted) return { delivered, fromMs: cursorMs, rewinds };
    if (!gate.overflowed) break;
    // The live buffer overflowed: everything it dropped is below the new snapshot, so it will be
    // in the database once the writer passes it; re-read from the smallest dropped key.
    if (!sentIds || rewinds >= (deps.maxRewinds ?? 8)) {
      throw new ChatBackendError('CHAT_ERR_UNAVAILABLE', 'too many messages arrived during catch-up');
    }
    const droppedMin = gate.takeOverflow()!;
    snapshot = deps.delivery.snapshot();
    for (const [id, pos] of gate.pendingLiveDupes) {
      if (pos.offset >= 0 && pos.offset < (snapshot.get(pos.partition) ?? 0))
        gate.pendingLiveDupes.delete(id);
    }
    key = minKey(key, { ms: droppedMin.ms, id: '' });
    rewinds++;
  }

  // Synchronous from here: flush, CatchUpDone, mark live. No live record can slip in between.
  for (const record of gate.goLive()) {
    session.sendFrame(record.frame(), 'message');
    delivered++;
  }
  session.sendFrame(catchUpDoneFrame(delivered, cursorMs), 'catchUpDone');
  for (const [id, pos] of gate.pendingLiveDupes) {
    // Records below the current position were already handed over (and matched); only later
    // ones can still arrive. Unknown positions (-1) are kept, bounded below.
    if (pos.offset >= 0 && pos.offset < deps.delivery.position(pos.partition))
      gate.pendingLiveDupes.delete(id);
  }
  while (gate.pendingLiveDupes.size > 10_000) {
    const oldest = gate.pendingLiveDupes.keys().next().value;
    if (oldest === undefined) break;
    gate.pendingLiveDupes.delete(oldest);
  }
  return { delivered, fromMs: cursorMs, rewinds };
}
