/** What the discovery tests share: a discovery on port 0, registered servers, RPC clients. */
import type { DescService } from '@bufbuild/protobuf';
import { type Client, createClient, type Transport } from '@connectrpc/connect';
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  Http2SessionManager,
} from '@connectrpc/connect-node';
import { onTestFinished } from 'vitest';
import {
  createDiscoveryServer,
  type DiscoveryServer,
  type DiscoveryServerOptions,
} from '../../../src/discovery/index.js';
import { createRegistration, type Registration } from '../../../src/shared/registry.js';
import { ZkClient } from '../../../src/shared/zookeeper.js';
import { infra, unique } from '../../helpers/infra.js';

/** A unique registration base path for one test. */
export function testBasePath(): string {
  return `/test/${unique('discovery')}/servers`;
}

/** A started discovery server on a free port, closed when the test finishes. */
export async function startDiscovery(
  options: Partial<DiscoveryServerOptions> & { basePath: string },
): Promise<DiscoveryServer> {
  const server = createDiscoveryServer({
    zookeeperConnect: infra().zookeeperConnect,
    port: 0,
    ...options,
  });
  onTestFinished(() => server.close());
  await server.start();
  return server;
}

/** A started ZooKeeper client, closed when the test finishes. */
export async function testZk(sessionTimeoutMs = 6000): Promise<ZkClient> {
  const zk = new ZkClient({ connect: infra().zookeeperConnect, sessionTimeoutMs });
  onTestFinished(() => zk.close());
  await zk.start();
  return zk;
}

/** Registers a chat server stand-in (fast publishing), stopped when the test finishes. */
export async function register(
  zk: ZkClient,
  basePath: string,
  id: string,
  connections = 0,
): Promise<Registration> {
  const registration = createRegistration({
    zk,
    server: { id, wsUrl: `ws://127.0.0.1:1/${id}` },
    basePath,
    publishIntervalMs: 20,
  });
  registration.setConnections(connections);
  await registration.start();
  onTestFinished(() => registration.stop());
  return registration;
}

/** The three wire protocols one port serves. */
export type Protocol = 'connect' | 'grpc' | 'grpcweb';

/** A transport of the given protocol over HTTP/2 (gRPC-Web and Connect also over HTTP/1.1). */
export function testTransport(
  baseUrl: string,
  protocol: Protocol,
  httpVersion: '1.1' | '2' = '2',
): Transport {
  if (httpVersion === '1.1') {
    if (protocol === 'grpc') throw new Error('gRPC needs HTTP/2');
    const options = { baseUrl, httpVersion, nodeOptions: { agent: false } } as const;
    return protocol === 'connect' ? createConnectTransport(options) : createGrpcWebTransport(options);
  }
  const sessionManager = new Http2SessionManager(baseUrl);
  onTestFinished(() => sessionManager.abort());
  const options = { baseUrl, httpVersion, sessionManager } as const;
  if (protocol === 'grpc') return createGrpcTransport(options);
  return protocol === 'connect' ? createConnectTransport(options) : createGrpcWebTransport(options);
}

/** A client of one service. */
export function testClient<S extends DescService>(
  service: S,
  baseUrl: string,
  protocol: Protocol = 'connect',
  httpVersion: '1.1' | '2' = '2',
): Client<S> {
  return createClient(service, testTransport(baseUrl, protocol, httpVersion));
}

/** Polls until `ok(value)`; rejects after timeoutMs with the last value. */
export async function eventually<T>(
  probe: () => Promise<T>,
  ok: (value: T) => boolean,
  timeoutMs = 15000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (ok(value)) return value;
      last = value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`condition not met within ${timeoutMs} ms; last: ${String(last)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
