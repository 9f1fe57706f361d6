/**
 * The invariant checker of the fault tests, in the spirit of Jepsen's checkers: a run records a
 * history (every send with its outcome, every message each SDK device showed its app, every row
 * PostgreSQL holds for the run's users), and {@link checkHistory} judges it against the
 * guarantee:
 *
 *   every message acknowledged to its sender (SendAck) is stored exactly once and delivered to
 *   each of the recipient's devices, with no duplicate shown to an SDK user, in send order per
 *   conversation.
 *
 * Messages are identified by (sender_id, client_message_id), not by message_id: a send resent to
 * another chat server after a crash may be acked with a different message_id than the row the
 * writer kept (the unique key keeps the first), and the SDK shows it once by that same key.
 *
 * Order is the real-time order of one sender's sends: when A's SendAck arrived before B's send()
 * was called, every device must show A before B. Sends in flight together have no order to keep
 * (an UNAVAILABLE retry may overtake), unless `strictOrder` asks for call order.
 */
import type { Kysely } from 'kysely';
import type { SendAck } from '../../gen/chat/v1/frames_pb.js';
import type { ChatMessage } from '../../gen/chat/v1/message_pb.js';
import type { ChatClient } from '../../src/client/chat-client.js';
import { msOf } from '../../src/shared/codec.js';
import type { Database } from '../../src/shared/db/schema.js';

/** One send() by an SDK user and how it ended. */
export interface SendRecord {
  sender: string;
  recipient: string;
  clientMessageId: string;
  body: string;
  /** The device (client) that sent it; its own echo is not expected. */
  device?: string;
  /** Position of the send() call in the run's global sequence. */
  invokedSeq: number;
  /** The SendAck, when one arrived; `seq` is its position in the same sequence. */
  ack?: { messageId: string; sentAtMs: number; seq: number };
  /** The error code the send ended with (TIMEOUT, CLOSED, TOO_LARGE, ...), when it failed. */
  error?: string;
}

/** A message as an SDK device handed it to the app. */
export interface DeliveryRecord {
  messageId: string;
  clientMessageId: string;
  senderId: string;
  recipientId: string;
  body: string;
}

/** One SDK client (a user's device) and what it showed, in order. */
export interface DeviceRecord {
  user: string;
  device: string;
  deliveries: DeliveryRecord[];
  /** Whether every message addressed to this user must reach this device. Default true. */
  expectsAll?: boolean;
}

/** A row of the messages table. */
export interface StoredRow {
  messageId: string;
  clientMessageId: string;
  senderId: string;
  recipientId: string;
  body: Uint8Array;
}

/** Everything one run did and what it left behind. */
export interface History {
  sends: SendRecord[];
  devices: DeviceRecord[];
  stored: StoredRow[];
}

/** Kinds of broken guarantee. */
export const VIOLATION_KINDS = [
  /** Acked, but no row in PostgreSQL. */
  'lost-unstored',
  /** Acked, but a device of the recipient never showed it. */
  'lost-undelivered',
  /** Two rows for one message. */
  'duplicate-stored',
  /** One device showed one message twice. */
  'duplicate-delivered',
  /** A device showed B before A although A was acked before B was sent. */
  'reordered',
  /** A row or a delivery whose body or recipient differs from what was sent. */
  'corrupted',
  /** A row or a delivery that nobody in the run sent. */
  'phantom',
] as const;

/** One kind of broken guarantee. */
export type ViolationKind = (typeof VIOLATION_KINDS)[number];

/** One broken guarantee, with enough detail to find it. */
export interface Violation {
  kind: ViolationKind;
  sender: string;
  clientMessageId: string;
  device?: string;
  detail: string;
}

/** The verdict on a history. */
export interface CheckReport {
  /** No violation of any kind. */
  ok: boolean;
  violations: Violation[];
  byKind: Record<ViolationKind, number>;
  /** Sends that failed or timed out but were stored anyway: allowed, counted. */
  unackedStored: number;
  counts: { sent: number; acked: number; failed: number; stored: number; delivered: number; devices: number };
  /** One line for test output, with the first few violations. */
  summary(): string;
}

/** Options of {@link checkHistory}. */
export interface CheckOptions {
  /** Also expect each acked message on the sender's other devices. Default false. */
  senderEcho?: boolean;
  /** Order by send() call instead of ack-before-send (for runs without retries). Default false. */
  strictOrder?: boolean;
}

const encoder = new TextEncoder();

function keyOf(sender: string, clientMessageId: string): string {
  return `${sender}\u0000${clientMessageId}`;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}

/** Judges a history; see the module comment for the rules. */
export function checkHistory(history: History, options: CheckOptions = {}): CheckReport {
  const violations: Violation[] = [];
  const add = (v: Violation) => violations.push(v);
  const sends = new Map<string, SendRecord>();
  for (const send of history.sends) sends.set(keyOf(send.sender, send.clientMessageId), send);

  // Stored: once each, as sent, and only what was sent.
  const storedByKey = new Map<string, StoredRow>();
  const storedIds = new Set<string>();
  for (const row of history.stored) {
    const key = keyOf(row.senderId, row.clientMessageId);
    const ref = { sender: row.senderId, clientMessageId: row.clientMessageId };
    if (storedByKey.has(key) || storedIds.has(row.messageId)) {
      add({ kind: 'duplicate-stored', ...ref, detail: `row ${row.messageId} stores the message again` });
      continue;
    }
    storedByKey.set(key, row);
    storedIds.add(row.messageId);
    const send = sends.get(key);
    if (!send) {
      add({ kind: 'phantom', ...ref, detail: `row ${row.messageId} matches no send` });
    } else if (row.recipientId !== send.recipient || !sameBytes(row.body, encoder.encode(send.body))) {
      add({ kind: 'corrupted', ...ref, detail: `row ${row.messageId} differs from the sent message` });
    }
  }

  // Devices: each message once, as sent, in order.
  const order = (s: SendRecord) => (options.strictOrder ? s.invokedSeq : (s.ack?.seq ?? Infinity));
  const shown = new Map<string, Set<string>>();
  let delivered = 0;
  for (const device of history.devices) {
    const keys = new Set<string>();
    const ids = new Set<string>();
    shown.set(device.device, keys);
    // Per conversation and sender: the latest-invoked send shown so far.
    const latest = new Map<string, SendRecord>();
    for (const d of device.deliveries) {
      delivered++;
      const key = keyOf(d.senderId, d.clientMessageId);
      const ref = { sender: d.senderId, clientMessageId: d.clientMessageId, device: device.device };
      if (keys.has(key) || ids.has(d.messageId)) {
        add({ kind: 'duplicate-delivered', ...ref, detail: `shown again (message ${d.messageId})` });
        continue;
      }
      keys.add(key);
      ids.add(d.messageId);
      const send = sends.get(key);
      if (!send) {
        add({ kind: 'phantom', ...ref, detail: `delivery ${d.messageId} matches no send` });
        continue;
      }
      if (d.recipientId !== send.recipient || d.body !== send.body) {
        add({ kind: 'corrupted', ...ref, detail: `delivery ${d.messageId} differs from the sent message` });
      }
      const conversation = keyOf(send.sender, send.recipient);
      const before = latest.get(conversation);
      if (before && before.invokedSeq > order(send)) {
        add({
          kind: 'reordered',
          ...ref,
          detail: `shown after ${before.clientMessageId}, which was sent after this one was acked`,
        });
      }
      if (!before || send.invokedSeq > before.invokedSeq) latest.set(conversation, send);
    }
  }

  // Acked: stored and delivered everywhere it must be.
  let acked = 0;
  let failed = 0;
  let unackedStored = 0;
  for (const send of history.sends) {
    const key = keyOf(send.sender, send.clientMessageId);
    const ref = { sender: send.sender, clientMessageId: send.clientMessageId };
    if (!send.ack) {
      failed++;
      if (storedByKey.has(key)) unackedStored++;
      continue;
    }
    acked++;
    if (!storedByKey.has(key)) {
      add({ kind: 'lost-unstored', ...ref, detail: `acked as ${send.ack.messageId}, never stored` });
    }
    for (const device of history.devices) {
      if (device.expectsAll === false) continue;
      const wants =
        device.user === send.recipient ||
        (options.senderEcho === true && device.user === send.sender && device.device !== send.device);
      if (wants && !shown.get(device.device)?.has(key)) {
        add({ kind: 'lost-undelivered', ...ref, device: device.device, detail: 'acked, never shown' });
      }
    }
  }

  const byKind = Object.fromEntries(VIOLATION_KINDS.map((k) => [k, 0])) as Record<ViolationKind, number>;
  for (const v of violations) byKind[v.kind]++;
  const counts = {
    sent: history.sends.length,
    acked,
    failed,
    stored: history.stored.length,
    delivered,
    devices: history.devices.length,
  };
  return {
    ok: violations.length === 0,
    violations,
    byKind,
    unackedStored,
    counts,
    summary() {
      const kinds = VIOLATION_KINDS.filter((k) => byKind[k] > 0).map((k) => `${k}=${byKind[k]}`);
      const first = violations
        .slice(0, 5)
        .map(
          (v) =>
            `${v.kind} ${v.sender}/${v.clientMessageId}${v.device ? ` on ${v.device}` : ''}: ${v.detail}`,
        );
      return [
        `sent=${counts.sent} acked=${counts.acked} failed=${counts.failed} stored=${counts.stored} ` +
          `delivered=${counts.delivered} unackedStored=${unackedStored} ${kinds.join(' ') || 'no violations'}`,
        ...first,
      ].join('\n  ');
    },
  };
}

/** Which device record a watched client belongs to (so its own sends are not expected back). */
const devicesOf = new WeakMap<ChatClient, string>();

/**
 * Records a run through real SDK clients: watch() each client (device) before it connects, send
 * through send() so call and ack order are captured, then history() with the stored rows.
 */
export class HistoryRecorder {
  #seq = 0;
  readonly sends: SendRecord[] = [];
  readonly devices: DeviceRecord[] = [];
  #deviceCount = 0;

  /** Records every message the client shows its app; returns the device record. */
  watch(client: ChatClient, options: { device?: string; expectsAll?: boolean } = {}): DeviceRecord {
    const device: DeviceRecord = {
      user: client.userId,
      device: options.device ?? `${client.userId}#${++this.#deviceCount}`,
      deliveries: [],
      expectsAll: options.expectsAll ?? true,
    };
    devicesOf.set(client, device.device);
    client.on('message', (m: ChatMessage) => {
      device.deliveries.push({
        messageId: m.messageId,
        clientMessageId: m.clientMessageId,
        senderId: m.senderId,
        recipientId: m.recipientId,
        body: m.body,
      });
    });
    this.devices.push(device);
    return device;
  }

  /** Sends through the client and records call, ack or error; never rejects. */
  async send(
    client: ChatClient,
    recipient: string,
    body: string,
    clientMessageId: string = globalThis.crypto.randomUUID(),
  ): Promise<SendRecord> {
    const record: SendRecord = {
      sender: client.userId,
      recipient,
      clientMessageId,
      body,
      invokedSeq: ++this.#seq,
    };
    const device = devicesOf.get(client);
    if (device !== undefined) record.device = device;
    this.sends.push(record);
    try {
      const ack: SendAck = await client.send(recipient, body, { clientMessageId });
      record.ack = { messageId: ack.messageId, sentAtMs: msOf(ack.sentAt), seq: ++this.#seq };
    } catch (err) {
      record.error = (err as { code?: string }).code ?? String(err);
    }
    return record;
  }

  /** Users that sent or own a device in this run. */
  users(): string[] {
    return [...new Set([...this.sends.map((s) => s.sender), ...this.devices.map((d) => d.user)])];
  }

  /** The acked sends not yet shown on every device that must show them. */
  undelivered(): number {
    // Polled while a run settles: index each device's deliveries once per call, so a long soak
    // (hundreds of thousands of messages) costs one pass, not sends x deliveries.
    const seenBy = new Map<DeviceRecord, Set<string>>();
    for (const d of this.devices) {
      if (d.expectsAll === false) continue;
      seenBy.set(d, new Set(d.deliveries.map((x) => `${x.senderId}\u0000${x.clientMessageId}`)));
    }
    let missing = 0;
    for (const send of this.sends) {
      if (!send.ack) continue;
      const key = `${send.sender}\u0000${send.clientMessageId}`;
      for (const [d, seen] of seenBy) {
        if (d.user === send.recipient && !seen.has(key)) missing++;
      }
    }
    return missing;
  }

  /** The history, with the rows read back for this run's users. */
  history(stored: StoredRow[]): History {
    return { sends: this.sends, devices: this.devices, stored };
  }
}

/** Every stored row sent by or to these users, in message_id order. */
export async function readStored(db: Kysely<Database>, users: readonly string[]): Promise<StoredRow[]> {
  if (users.length === 0) return [];
  const rows = await db
    .selectFrom('messages')
    .select(['message_id', 'client_message_id', 'sender_id', 'recipient_id', 'body'])
    .where((eb) => eb.or([eb('sender_id', 'in', users), eb('recipient_id', 'in', users)]))
    .orderBy('message_id')
    .execute();
  return rows.map((r) => ({
    messageId: r.message_id,
    clientMessageId: r.client_message_id,
    senderId: r.sender_id,
    recipientId: r.recipient_id,
    body: r.body,
  }));
}
