/**
 * Resend dedupe on one chat server: (sender, client_message_id) -> the pending or finished
 * SendAck. A client that resends (it saw UNAVAILABLE, or reconnected to the same server) gets
 * the same SendAck and the message is produced once. Failed sends are forgotten, so a resend
 * after UNAVAILABLE tries again. Bounded in size (oldest dropped first) and age. Across servers
 * the writer's unique (sender_id, client_message_id) and the SDK's dedupe absorb duplicates.
 */

/** Options of {@link createSendDedupe}. */
export interface SendDedupeOptions {
  /** Most remembered sends. Default 50000. */
  maxEntries?: number;
  /**
   * How long a send is remembered, in ms. Default 120000 (2 min): longer than the SDK's send
   * timeout (30 s) plus its reconnects, short enough that memory follows the recent send rate.
   */
  ttlMs?: number;
}

/** The dedupe map. */
export interface SendDedupe<T> {
  /** The remembered result for the key, if any and not expired. */
  get(sender: string, clientMessageId: string, nowMs?: number): Promise<T> | undefined;
  /** Remembers a pending send; it is forgotten again if it rejects. */
  remember(sender: string, clientMessageId: string, result: Promise<T>, nowMs?: number): void;
  readonly size: number;
}

/** Creates an empty dedupe map. */
export function createSendDedupe<T>(options: SendDedupeOptions = {}): SendDedupe<T> {
  const maxEntries = options.maxEntries ?? 50_000;
  const ttlMs = options.ttlMs ?? 120_000;
  const entries = new Map<string, { result: Promise<T>; at: number }>();
  // Sender ids never contain NUL (checkUserId), so the key is unambiguous.
  const keyOf = (sender: string, id: string) => `${sender}\u0000${id}`;
  return {
    get size() {
      return entries.size;
    },
    get(sender, clientMessageId, nowMs = Date.now()) {
      const key = keyOf(sender, clientMessageId);
      const entry = entries.get(key);
      if (!entry) return undefined;
      if (nowMs - entry.at > ttlMs) {
        entries.delete(key);
        return undefined;
      }
      return entry.result;
    },
    remember(sender, clientMessageId, result, nowMs = Date.now()) {
      const key = keyOf(sender, clientMessageId);
      const entry = { result, at: nowMs };
      entries.delete(key);
      entries.set(key, entry);
      result.catch(() => {
        if (entries.get(key) === entry) entries.delete(key);
      });
      // Entries are in insertion (time) order: drop the expired head and anything over the cap.
      for (const [oldestKey, oldest] of entries) {
        if (entries.size <= maxEntries && nowMs - oldest.at <= ttlMs) break;
        entries.delete(oldestKey);
      }
    },
  };
}
