/**
 * Publishes this server's view of its users to the compacted presence topic: one record per
 * (user, server) with online, last_seen_at, last_read_timestamp and the session count. Changes
 * are coalesced: a user is marked dirty when their first session opens, their last one closes,
 * their read cursor advances, or their last_seen_at is older than `refreshMs`; dirty users are
 * flushed every `flushMs` in one batch. Discovery aggregates the records; the writer stores
 * last_read.
 */
import { create } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import type { Message } from 'kafkajs';
import { PresenceEventSchema } from '../../gen/chat/v1/presence_pb.js';
import { presenceRecord } from '../shared/codec.js';
import type { Logger } from '../shared/logger.js';

/** Options of {@link createPresencePublisher}. */
export interface PresencePublisherOptions {
  serverId: string;
  topic: string;
  /** Sends one record (the batching producer coalesces them). */
  send: (topic: string, message: Message) => Promise<void>;
  /** Flush period in ms. */
  flushMs: number;
  /** Re-publish an online user's last_seen_at at most this often, in ms. Default 30000. */
  refreshMs?: number;
  logger?: Logger;
}

/** The publisher. */
export interface PresencePublisher {
  sessionOpened(userId: string): void;
  sessionClosed(userId: string): void;
  /** A heartbeat: the user is alive; lastReadMs (0 = not given) may advance their cursor. */
  heartbeat(userId: string, lastReadMs: number): void;
  /** Publishes every dirty user now. */
  flush(): Promise<void>;
  /** Marks everyone offline and publishes it (drain). */
  offlineAll(): Promise<void>;
  stop(): void;
}

interface UserState {
  sessions: number;
  lastSeenAt: number;
  lastRead: number;
  lastPublishedAt: number;
  dirty: boolean;
}

/** Creates the publisher; its flush timer starts at once (unref'd). */
export function createPresencePublisher(options: PresencePublisherOptions): PresencePublisher {
  const refreshMs = options.refreshMs ?? 30000;
  const users = new Map<string, UserState>();
  let flushing: Promise<void> | undefined;

  function state(userId: string): UserState {
    let s = users.get(userId);
    if (!s) {
      s = { sessions: 0, lastSeenAt: Date.now(), lastRead: 0, lastPublishedAt: 0, dirty: false };
      users.set(userId, s);
    }
    return s;
  }

  async function publish(): Promise<void> {
    const now = Date.now();
    const sends: Promise<void>[] = [];
    const published: [string, UserState][] = [];
    for (const [userId, s] of users) {
      if (!s.dirty) continue;
      s.dirty = false;
      s.lastPublishedAt = now;
      published.push([userId, s]);
      const event = create(PresenceEventSchema, {
        serverId: options.serverId,
        sessions: s.sessions,
        presence: {
          userId,
          online: s.sessions > 0,
          lastSeenAt: timestampFromMs(s.lastSeenAt),
          ...(s.lastRead > 0 && { lastReadTimestamp: timestampFromMs(s.lastRead) }),
        },
      });
      sends.push(options.send(options.topic, presenceRecord(event)));
      if (s.sessions === 0) users.delete(userId);
    }
    const results = await Promise.allSettled(sends);
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') return;
      const [userId, s] = published[i]!;
      options.logger?.warn({ err: r.reason, userId }, 'publishing presence failed; will retry');
      s.dirty = true;
      if (!users.has(userId) && s.sessions === 0) users.set(userId, s);
    });
  }

  function flush(): Promise<void> {
    flushing ??= publish().finally(() => {
      flushing = undefined;
    });
    return flushing;
  }

  const timer = setInterval(() => void flush(), options.flushMs);
  timer.unref();

  return {
    sessionOpened(userId) {
      const s = state(userId);
      s.sessions++;
      s.lastSeenAt = Date.now();
      if (s.sessions === 1) s.dirty = true;
    },
    sessionClosed(userId) {
      const s = users.get(userId);
      if (!s) return;
      s.sessions = Math.max(0, s.sessions - 1);
      s.lastSeenAt = Date.now();
      if (s.sessions === 0) s.dirty = true;
    },
    heartbeat(userId, lastReadMs) {
      const s = users.get(userId);
      if (!s) return;
      const now = Date.now();
      s.lastSeenAt = now;
      if (lastReadMs > s.lastRead) {
        s.lastRead = lastReadMs;
        s.dirty = true;
      }
      if (now - s.lastPublishedAt >= refreshMs) s.dirty = true;
    },
    flush,
    async offlineAll() {
      await flushing;
      for (const s of users.values()) {
        s.sessions = 0;
        s.dirty = true;
      }
      await flush();
    },
    stop() {
      clearInterval(timer);
    },
  };
}
