/**
 * A whole chat system inside the test process: the chat servers and writer of
 * {@link startEdges} plus a discovery service on the same ZooKeeper path and topics. For SDK,
 * CLI and browser tests that need every real piece but not separate processes (fault tests use
 * tests/helpers/cluster.ts).
 */
import { createClient } from '@connectrpc/connect';
import { onTestFinished } from 'vitest';
import { DiscoveryService } from '../../gen/chat/v1/discovery_pb.js';
import { ChatClient } from '../../src/client/chat-client.js';
import { createDiscoveryServer, type DiscoveryServer } from '../../src/discovery/index.js';
import type { EdgeOptions } from '../../src/edge/index.js';
import { type EdgeSystem, SECRET, startEdges } from './edge-system.js';
import { infra } from './infra.js';

/** The secret every in-process system signs tokens with. */
export const TEST_SECRET = SECRET;

/** A running in-process system. */
export interface InProcessSystem extends EdgeSystem {
  discovery: DiscoveryServer;
  discoveryUrl: string;
}

/** Starts discovery, `edges` chat servers (default 2) and one writer; all stopped when the test finishes. */
export async function startInProcessSystem(
  options: { edges?: number; edgeOptions?: Partial<EdgeOptions> } = {},
): Promise<InProcessSystem> {
  const { zookeeperConnect, kafkaBrokers } = infra();
  const system = await startEdges({
    edges: options.edges ?? 2,
    ...(options.edgeOptions && { edge: options.edgeOptions }),
  });
  const discovery = createDiscoveryServer({
    zookeeperConnect,
    basePath: system.zkBasePath,
    port: 0,
    kafkaBrokers,
    topics: system.topics,
  });
  onTestFinished(() => discovery.close());
  await discovery.start();
  // Discovery learns of the servers through ZooKeeper watches: wait until it lists them all.
  const rpc = createClient(DiscoveryService, ChatClient.transportFor(discovery.url));
  const deadline = Date.now() + 15000;
  while ((await rpc.listChatServers({})).servers.length < system.edges.length) {
    if (Date.now() > deadline) throw new Error('discovery did not list every chat server in time');
    await new Promise((r) => setTimeout(r, 50));
  }
  return { ...system, discovery, discoveryUrl: discovery.url };
}
