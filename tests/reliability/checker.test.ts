/**
 * The checker must catch every kind of violation: hand-made histories, one broken guarantee each,
 * plus the allowed cases (unacked-but-stored, a resend acked under another message_id, sends in
 * flight together shown in either order).
 */
import { describe, expect, it } from 'vitest';
import {
  checkHistory,
  type DeliveryRecord,
  type History,
  type SendRecord,
  type StoredRow,
} from '../helpers/checker.js';

const enc = new TextEncoder();

function send(n: number, over: Partial<SendRecord> = {}): SendRecord {
  return {
    sender: 'alice',
    recipient: 'bob',
    clientMessageId: `c${n}`,
    body: `hello ${n}`,
    device: 'alice#1',
    invokedSeq: 2 * n,
    ack: { messageId: `m${n}`, sentAtMs: 1000 + n, seq: 2 * n + 1 },
    ...over,
  };
}

function row(s: SendRecord, over: Partial<StoredRow> = {}): StoredRow {
  return {
    messageId: s.ack?.messageId ?? `u-${s.clientMessageId}`,
    clientMessageId: s.clientMessageId,
    senderId: s.sender,
    recipientId: s.recipient,
    body: enc.encode(s.body),
    ...over,
  };
}

function delivery(s: SendRecord, over: Partial<DeliveryRecord> = {}): DeliveryRecord {
  return {
    messageId: s.ack?.messageId ?? `u-${s.clientMessageId}`,
    clientMessageId: s.clientMessageId,
    senderId: s.sender,
    recipientId: s.recipient,
    body: s.body,
    ...over,
  };
}

/** Three sequential sends alice -> bob, stored and shown once each, in order. */
function clean(): History {
  const sends = [send(1), send(2), send(3)];
  return {
    sends,
    stored: sends.map((s) => row(s)),
    devices: [
      { user: 'bob', device: 'bob#1', deliveries: sends.map((s) => delivery(s)) },
      { user: 'alice', device: 'alice#1', deliveries: [] },
    ],
  };
}

describe('checkHistory', () => {
  it('passes a clean history and counts it', () => {
    const report = checkHistory(clean());
    expect(report.ok, report.summary()).toBe(true);
    expect(report.counts).toEqual({ sent: 3, acked: 3, failed: 0, stored: 3, delivered: 3, devices: 2 });
    expect(report.summary()).toContain('no violations');
  });

  it('catches an acked message that was never stored', () => {
    const h = clean();
    h.stored.splice(1, 1);
    const report = checkHistory(h);
    expect(report.byKind['lost-unstored']).toBe(1);
    expect(report.violations[0]).toMatchObject({ kind: 'lost-unstored', clientMessageId: 'c2' });
    expect(report.ok).toBe(false);
  });

  it('catches an acked message a recipient device never showed', () => {
    const h = clean();
    h.devices.push({ user: 'bob', device: 'bob#2', deliveries: [delivery(h.sends[0]!)] });
    const report = checkHistory(h);
    expect(report.byKind['lost-undelivered']).toBe(2);
    expect(report.violations.every((v) => v.device === 'bob#2')).toBe(true);
  });

  it('ignores devices that do not expect everything, and checks sender echo only when asked', () => {
    const h = clean();
    h.devices.push({ user: 'bob', device: 'bob#late', deliveries: [], expectsAll: false });
    h.devices.push({ user: 'alice', device: 'alice#2', deliveries: [] });
    expect(checkHistory(h).ok).toBe(true);
    const echo = checkHistory(h, { senderEcho: true });
    // alice#2 missed all three; alice#1 sent them and is not expected to see its own.
    expect(echo.byKind['lost-undelivered']).toBe(3);
    expect(echo.violations.every((v) => v.device === 'alice#2')).toBe(true);
  });

  it('catches a message stored twice (same key or same message_id)', () => {
    const h = clean();
    h.stored.push(row(h.sends[0]!, { messageId: 'm1-again' }));
    h.stored.push(row(h.sends[1]!, { clientMessageId: 'other' }));
    const report = checkHistory(h);
    expect(report.byKind['duplicate-stored']).toBe(2);
  });

  it('catches a message shown twice on one device, by key or by message_id', () => {
    const h = clean();
    const bob = h.devices[0]!;
    bob.deliveries.push(delivery(h.sends[0]!, { messageId: 'm1-resent' }));
    bob.deliveries.push(delivery(h.sends[1]!));
    const report = checkHistory(h);
    expect(report.byKind['duplicate-delivered']).toBe(2);
    expect(report.byKind.reordered).toBe(0);
  });

  it('catches a reorder of sequential sends', () => {
    const h = clean();
    const bob = h.devices[0]!;
    bob.deliveries = [delivery(h.sends[0]!), delivery(h.sends[2]!), delivery(h.sends[1]!)];
    const report = checkHistory(h);
    expect(report.byKind.reordered).toBe(1);
    expect(report.violations[0]).toMatchObject({ kind: 'reordered', clientMessageId: 'c2', device: 'bob#1' });
  });

  it('lets sends in flight together arrive in either order, unless strictOrder', () => {
    // Both sent before either was acked.
    const a = send(1, { invokedSeq: 1, ack: { messageId: 'm1', sentAtMs: 1, seq: 4 } });
    const b = send(2, { invokedSeq: 2, ack: { messageId: 'm2', sentAtMs: 2, seq: 3 } });
    const h: History = {
      sends: [a, b],
      stored: [row(a), row(b)],
      devices: [{ user: 'bob', device: 'bob#1', deliveries: [delivery(b), delivery(a)] }],
    };
    expect(checkHistory(h).ok).toBe(true);
    expect(checkHistory(h, { strictOrder: true }).byKind.reordered).toBe(1);
  });

  it('orders per conversation and sender only', () => {
    const a = send(1);
    const c = send(2, { sender: 'carol', device: 'carol#1' });
    const h: History = {
      sends: [a, c],
      stored: [row(a), row(c)],
      devices: [{ user: 'bob', device: 'bob#1', deliveries: [delivery(c), delivery(a)] }],
    };
    expect(checkHistory(h).ok).toBe(true);
  });

  it('catches stored or shown bytes that differ from what was sent', () => {
    const h = clean();
    h.stored[0] = row(h.sends[0]!, { body: enc.encode('hello 1 ') });
    h.stored[1] = row(h.sends[1]!, { recipientId: 'mallory' });
    h.devices[0]!.deliveries[2] = delivery(h.sends[2]!, { body: 'hello 3\uFFFD' });
    const report = checkHistory(h);
    expect(report.byKind.corrupted).toBe(3);
  });

  it('catches rows and deliveries nobody sent', () => {
    const h = clean();
    const ghost = send(9, { sender: 'mallory' });
    h.stored.push(row(ghost));
    h.devices[0]!.deliveries.push(delivery(ghost, { messageId: 'm-ghost' }));
    const report = checkHistory(h);
    expect(report.byKind.phantom).toBe(2);
  });

  it('allows and counts unacked-but-stored; does not require unacked ones anywhere', () => {
    const h = clean();
    const timedOut = send(4);
    delete timedOut.ack;
    timedOut.error = 'TIMEOUT';
    const neverStored = send(5);
    delete neverStored.ack;
    neverStored.error = 'CLOSED';
    h.sends.push(timedOut, neverStored);
    h.stored.push(row(timedOut));
    const report = checkHistory(h);
    expect(report.ok, report.summary()).toBe(true);
    expect(report.unackedStored).toBe(1);
    expect(report.counts.failed).toBe(2);
  });

  it('accepts a resend acked under another message_id than the stored row', () => {
    // Server A produced m1 and died before acking; the resend through B was acked as m1b.
    const h = clean();
    h.sends[0]!.ack = { messageId: 'm1b', sentAtMs: 1001, seq: 3 };
    expect(checkHistory(h).ok).toBe(true);
  });

  it('reports several kinds at once in the summary', () => {
    const h = clean();
    h.stored.pop();
    h.devices[0]!.deliveries.push(delivery(h.sends[0]!));
    const report = checkHistory(h);
    expect(report.summary()).toMatch(/lost-unstored=1 duplicate-delivered=1/);
  });
});
