/**
 * A whole chat system inside the test process, on free ports, with unique topics, ZooKeeper path
 * and writer group: discovery, N chat servers, a writer. For SDK, CLI and browser tests that
 * need the real pieces but not separate processes (fault tests use tests/helpers/cluster.ts).
 */
import { createClient } from '@connectrpc/connect';
import { onTestFinished } from 'vitest';
import { DiscoveryService } from '../../gen/chat/v1/discovery_pb.js';
import { ChatClient } from '../../src/client/chat-client.js';
import { createDiscoveryServer, type DiscoveryServer } from '../../src/discovery/index.js';
import { createEdgeServer, type EdgeOptions, type EdgeServer } from '../../src/edge/index.js';
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
  const discovery = createDiscoveryServer({
    zookeeperConnect,
    basePath: zkBasePath,
    port: 0,
    kafkaBrokers,
    topics,
  });
  onTestFinished(async () => {
    await Promise.allSettled(edges.map((e) => e.close()));
    await Promise.allSettled([writer.stop(), discovery.close()]);
  });
  await Promise.all([writer.start(), discovery.start(), ...edges.map((e) => e.start())]);
  // Discovery learns of the servers through ZooKeeper watches: wait until it lists them all.
  const rpc = createClient(DiscoveryService, ChatClient.transportFor(discovery.url));
  const deadline = Date.now() + 15000;
  while ((await rpc.listChatServers({})).servers.length < edges.length) {
    if (Date.now() > deadline) throw new Error('discovery did not list every chat server in time');
    await new Promise((r) => setTimeout(r, 50));
  }
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
