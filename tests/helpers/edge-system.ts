/**
 * Test fixture for the chat server suites: N in-process chat servers and one in-process writer
 * on unique topics, ZooKeeper path and writer group, with short heartbeats; all closed when the
 * test finishes.
 */
import { onTestFinished } from 'vitest';
import { createEdgeServer, type EdgeOptions, type EdgeServer } from '../../src/edge/index.js';
import { signToken } from '../../src/shared/auth.js';
import type { Topics } from '../../src/shared/topics.js';
import { createWriter, type Writer } from '../../src/writer/index.js';
import { infra, testTopics, unique } from './infra.js';

/** The secret the fixture's tokens are signed with. */
export const SECRET = 'edge-test-secret-of-at-least-32-bytes!';

/** What a fixture started. */
export interface EdgeSystem {
  topics: Topics;
  zkBasePath: string;
  writerGroupId: string;
  edges: EdgeServer[];
  writer: Writer | undefined;
  token(user: string): Promise<string>;
  /** Options every edge of the fixture got (for starting another one). */
  edgeOptions: EdgeOptions;
}

/** Starts `edges` chat servers (and a writer unless `writer: false`). */
export async function startEdges(
  options: { edges?: number; writer?: boolean; edge?: Partial<EdgeOptions>; partitions?: number } = {},
): Promise<EdgeSystem> {
  const { zookeeperConnect, kafkaBrokers, databaseUrl } = infra();
  const topics = await testTopics({ messagePartitions: options.partitions ?? 3 });
  const zkBasePath = `/test/${unique('edge')}/servers`;
  const writerGroupId = unique('writer');
  const edgeOptions: EdgeOptions = {
    port: 0,
    authSecret: SECRET,
    kafkaBrokers,
    databaseUrl,
    zookeeperConnect,
    zkBasePath,
    topics,
    ensureTopics: false,
    writerGroupId,
    heartbeatIntervalMs: 1000,
    firstHeartbeatWaitMs: 300,
    catchUpTimeoutMs: 10000,
    drainDurationMs: 200,
    ...options.edge,
  };
  const writer =
    options.writer === false
      ? undefined
      : createWriter({ kafkaBrokers, databaseUrl, topics, groupId: writerGroupId, createTopics: false });
  const edges = Array.from({ length: options.edges ?? 1 }, () => createEdgeServer(edgeOptions));
  onTestFinished(async () => {
    await Promise.allSettled(edges.map((e) => e.close()));
    await writer?.stop();
  });
  await Promise.all([writer?.start(), ...edges.map((e) => e.start())]);
  return {
    topics,
    zkBasePath,
    writerGroupId,
    edges,
    writer,
    edgeOptions,
    token: (user) => signToken(user, { secret: SECRET }),
  };
}
