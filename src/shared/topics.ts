/**
 * Kafka topics of the system and how they are created. Every service takes a {@link Topics}
 * object (defaults below) so tests can use unique topics without touching shared state.
 */
import type { Admin } from 'kafkajs';
import { type Env, envMatching } from './config.js';

/** Topic names used by one deployment. */
export interface Topics {
  /** Chat messages; key = conversation id, value = binary ChatMessage. Default "chat.messages". */
  messages: string;
  /** Compacted presence/read state; key = "<user>/<server>", value = binary PresenceEvent. Default "chat.presence". */
  presence: string;
}

/** The production topic names. */
export const DEFAULT_TOPICS: Readonly<Topics> = { messages: 'chat.messages', presence: 'chat.presence' };

/** Topic names with a unique suffix, for tests and benchmarks. */
export function uniqueTopics(suffix: string): Topics {
  return { messages: `chat.messages.${suffix}`, presence: `chat.presence.${suffix}` };
}

/** Partition counts. Defaults: 6 message partitions, 3 presence partitions. */
export interface TopicLayout {
  messagePartitions?: number;
  presencePartitions?: number;
}

/**
 * Creates the topics when missing (idempotent; safe to call from every process at start-up)
 * and waits until their leaders are elected and answer offset requests.
 */
export async function ensureTopics(admin: Admin, topics: Topics, layout: TopicLayout = {}): Promise<void> {
  await retryWhileSettling(() => createTopics(admin, topics, layout));
  // waitForLeaders only waits for the metadata; a leader can still refuse ListOffsets for a
  // moment ("not the leader for that topic-partition"). Ask until both topics answer.
  await topicEnds(admin, topics.messages);
  await topicEnds(admin, topics.presence);
}

/** End offset of each partition of one topic (the offset the next record will get). */
export type TopicEnds = { partition: number; high: number }[];

/**
 * The end offsets of a topic. Unlike admin.fetchTopicOffsets alone, this rides out the moments
 * after a topic is created or a leader moves, when the broker answers "not the leader" or
 * "leader not available" (kafkajs does not retry those in the admin client).
 */
export async function topicEnds(admin: Admin, topic: string): Promise<TopicEnds> {
  const ends = await retryWhileSettling(() => admin.fetchTopicOffsets(topic));
  return ends.map((p) => ({ partition: p.partition, high: Number(p.high) }));
}

/** Errors a broker gives while topic metadata or leadership is settling. */
export function isSettlingError(err: unknown): boolean {
  return (
    (err as { retriable?: boolean } | undefined)?.retriable === true ||
    /topic-partition|leader|does not host/i.test(String(err))
  );
}

/**
 * Runs `op` again while it fails with {@link isSettlingError}, every `delayMs` (default 250)
 * up to `attempts` times (default 40, about 10 s); then throws the last error.
 */
export async function retryWhileSettling<T>(
  op: () => Promise<T>,
  { attempts = 40, delayMs = 250 }: { attempts?: number; delayMs?: number } = {},
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await op();
    } catch (err) {
      if (!isSettlingError(err) || attempt >= attempts) throw err;
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }
}

async function createTopics(admin: Admin, topics: Topics, layout: TopicLayout): Promise<void> {
  // Asking to create an existing topic makes kafkajs log an error; create only what is missing.
  const existing = new Set(await admin.listTopics());
  if (existing.has(topics.messages) && existing.has(topics.presence)) return;
  await admin.createTopics({
    waitForLeaders: true,
    topics: [
      {
        topic: topics.messages,
        numPartitions: layout.messagePartitions ?? 6,
        replicationFactor: 1,
        configEntries: [{ name: 'min.insync.replicas', value: '1' }],
      },
      {
        topic: topics.presence,
        numPartitions: layout.presencePartitions ?? 3,
        replicationFactor: 1,
        configEntries: [
          { name: 'cleanup.policy', value: 'compact' },
          { name: 'segment.ms', value: '600000' },
        ],
      },
    ],
  });
}

/** What Kafka accepts as a topic name. */
const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;
const NOT_A_TOPIC = 'not a valid Kafka topic name:';

/**
 * Topic names from the environment, the same variables for every service:
 * CHAT_TOPIC_MESSAGES (default "chat.messages") and CHAT_TOPIC_PRESENCE (default "chat.presence").
 */
export function topicsFromEnv(env: Env = process.env): Topics {
  return {
    messages: envMatching(env, 'CHAT_TOPIC_MESSAGES', DEFAULT_TOPICS.messages, TOPIC_NAME, NOT_A_TOPIC),
    presence: envMatching(env, 'CHAT_TOPIC_PRESENCE', DEFAULT_TOPICS.presence, TOPIC_NAME, NOT_A_TOPIC),
  };
}
