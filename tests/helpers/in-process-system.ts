/**
 * A whole chat system inside the test process, on free ports, with unique topics, ZooKeeper path
 * and writer group: discovery, N chat servers, a writer. For SDK, CLI and browser tests that
 * need the real pieces but not separate processes (fault tests use tests/helpers/cluster.ts).
 */
import { onTestFinished } from 'vitest';
import { createDiscoveryServer, type DiscoveryServer } from '../../src/discovery/index.js';
import { createEdgeServer, type EdgeServer, type EdgeOptions } from '../../src/edge/index.js';
import { signToken } from '../../src/shared/auth.js';
import type { Topics } from '../../src/shared/topics.js';
import { createWriter, type Writer } from '../../src/writer/index.js';
import { infra, testTopics, unique } from './infra.js';

/** The secret every in-process system signs tokens with. */
export const TEST_SECRET = 'in-process-test-secret-at-least-32-bytes';

/** A running in-process system. */
export interface InProcessSystem {
  topics: Topics;
  zkBasePath: string;
  discovery: DiscoveryServer;
  discoveryUrl: string;
  edges: EdgeServer[];
  writer: Writer;
  token(user: string): Promise<string>;
}

/** Starts discovery, `edges` chat servers and one writer; all stopped when the test finishes. */
export async function startInProcessSystem(
  options: { edges?: number; edgeOptions?: Partial<EdgeOptions> } = {},
): Promise<InProcessSystem> {
  const { zookeeperConnect, kafkaBrokers, databaseUrl } = infra();
  const topics = await testTopics();
  const zkBasePath = `/test/${unique('chat')}/servers`;
  const writerGroupId = unique('writer');
  const writer = createWriter({ kafkaBrokers, databaseUrl, topics, groupId: writerGroupId });
  const edges = Array.from({ length: options.edges ?? 2 }, () =>
    createEdgeServer({
      port: 0,
      authSecret: TEST_SECRET,
      kafkaBrokers,
      databaseUrl,
      zookeeperConnect,
      zkBasePath,
      topics,
      writerGroupId,
      heartbeatIntervalMs: 1000,
      ...options.edgeOptions,
    }),
  );
  const discovery = createDiscoveryServer({ zookeeperConnect, basePath: zkBasePath, port: 0, kafkaBrokers, topics });
  onTestFinished(async () => {
    await Promise.allSettled(edges.map((e) => e.close()));
    await Promise.allSettled([writer.stop(), discovery.close()]);
  });
  await Promise.all([writer.start(), discovery.start(), ...edges.map((e) => e.start())]);
  return {
    topics,
    zkBasePath,
    discovery,
    discoveryUrl: discovery.url,
    edges,
    writer,
    token: (user) => signToken(user, { secret: TEST_SECRET }),
  };
}
