/**
 * What a gRPC tool sees without any .proto file: server reflection (v1 and v1alpha) through a
 * real reflection client (`buf curl`), calls with the proto's snake_case JSON names, and
 * grpc.health.v1.Health following the ZooKeeper connection (cut through a TCP proxy).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  Health,
  HealthCheckResponse_ServingStatus as Status,
} from '../../../gen/grpc/health/v1/health_pb.js';
import { PROJECT_ROOT } from '../../../src/infra/paths.js';
import { infra } from '../../helpers/infra.js';
import { startTcpProxy } from '../../helpers/tcp-proxy.js';
import { eventually, register, startDiscovery, testBasePath, testClient, testZk } from './helpers.js';

const run = promisify(execFile);
const BUF = join(PROJECT_ROOT, 'node_modules', '.bin', 'buf');

/** `buf curl --protocol grpc --http2-prior-knowledge ...`; resolves with stdout. */
async function bufCurl(...args: string[]): Promise<string> {
  const { stdout } = await run(BUF, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', ...args], {
    cwd: PROJECT_ROOT,
    timeout: 30_000,
  });
  return stdout;
}

describe('reflection', () => {
  it('lists the services and methods and calls GetChatServer with {"user_id": ...} (v1 and v1alpha)', async () => {
    const basePath = testBasePath();
    const zk = await testZk();
    await register(zk, basePath, 'only', 4);
    const discovery = await startDiscovery({ basePath });

    const services = (await bufCurl('--list-services', discovery.url)).trim().split('\n');
    expect(services).toEqual(
      expect.arrayContaining([
        'chat.v1.DiscoveryService',
        'chat.v1.PresenceService',
        'grpc.health.v1.Health',
        'grpc.reflection.v1.ServerReflection',
        'grpc.reflection.v1alpha.ServerReflection',
      ]),
    );
    const methods = (await bufCurl('--list-methods', discovery.url)).trim().split('\n');
    expect(methods).toEqual(
      expect.arrayContaining([
        'chat.v1.DiscoveryService/GetChatServer',
        'chat.v1.DiscoveryService/ListChatServers',
        'chat.v1.PresenceService/GetPresence',
      ]),
    );

    for (const protocol of ['grpc-v1', 'grpc-v1alpha']) {
      const out = await bufCurl(
        '--reflect-protocol',
        protocol,
        '-d',
        '{"user_id":"alice"}',
        `${discovery.url}/chat.v1.DiscoveryService/GetChatServer`,
      );
      expect(JSON.parse(out)).toEqual({
        server: { id: 'only', wsUrl: 'ws://127.0.0.1:1/only', connections: 4 },
      });
    }
  });

  it('refuses a field the message does not have, naming it', async () => {
    const discovery = await startDiscovery({ basePath: testBasePath() });
    const err = await bufCurl(
      '-d',
      '{"user":"alice"}',
      `${discovery.url}/chat.v1.DiscoveryService/GetChatServer`,
    ).catch((e: { stderr?: string }) => e);
    expect(typeof err).toBe('object');
    expect((err as { stderr: string }).stderr).toMatch(/user/);
  });
});

describe('health', () => {
  it('is SERVING while ZooKeeper is connected, NOT_SERVING while it is unreachable, and recovers', async () => {
    const [host, port] = infra().zookeeperConnect.split(',')[0]!.split(':');
    const proxy = await startTcpProxy({ targetHost: host, targetPort: Number(port) });
    const discovery = await startDiscovery({
      basePath: testBasePath(),
      zookeeperConnect: `127.0.0.1:${proxy.port}`,
      sessionTimeoutMs: 4000,
    });
    const health = testClient(Health, discovery.url, 'grpc');
    const status = async (service = '') => (await health.check({ service })).status;

    expect(await status()).toBe(Status.SERVING);
    expect(await status('chat.v1.DiscoveryService')).toBe(Status.SERVING);
    expect(await status('chat.v1.PresenceService')).toBe(Status.SERVING);
    expect(JSON.parse(await bufCurl('-d', '{}', `${discovery.url}/grpc.health.v1.Health/Check`))).toEqual({
      status: 'SERVING',
    });

    const watch = health.watch({ service: '' })[Symbol.asyncIterator]();
    expect((await watch.next()).value?.status).toBe(Status.SERVING);

    proxy.cut();
    expect((await watch.next()).value?.status).toBe(Status.NOT_SERVING);
    expect(await status()).toBe(Status.NOT_SERVING);
    expect(await status('chat.v1.DiscoveryService')).toBe(Status.NOT_SERVING);
    // Health itself and reflection do not need ZooKeeper.
    expect(await status('grpc.health.v1.Health')).toBe(Status.SERVING);

    proxy.restore();
    expect((await watch.next()).value?.status).toBe(Status.SERVING);
    await eventually(status, (s) => s === Status.SERVING);
    await watch.return?.();
  });

  it('answers NOT_FOUND for a service it does not serve', async () => {
    const discovery = await startDiscovery({ basePath: testBasePath() });
    const health = testClient(Health, discovery.url, 'connect');
    await expect(health.check({ service: 'no.such.Service' })).rejects.toMatchObject({ code: 5 });
  });
});
