/**
 * RPC contract of the discovery port, driven by the descriptors it serves: every method of
 * every service answers over gRPC (a plain @grpc/grpc-js client), Connect and gRPC-Web, on the
 * one port. Presence comes from a PresenceEvent produced here; bad requests get
 * INVALID_ARGUMENT or RESOURCE_EXHAUSTED on every protocol.
 */
import http2 from 'node:http2';
import {
  create,
  type DescMessage,
  type DescMethod,
  fromBinary,
  type MessageInitShape,
  toBinary,
} from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiscoveryService, type GetChatServerResponse } from '../../gen/chat/v1/discovery_pb.js';
import {
  type GetPresenceResponse,
  PresenceEventSchema,
  PresenceService,
} from '../../gen/chat/v1/presence_pb.js';
import {
  type HealthCheckResponse,
  HealthCheckResponse_ServingStatus,
} from '../../gen/grpc/health/v1/health_pb.js';
import type { ServerReflectionResponse } from '../../gen/grpc/reflection/v1/reflection_pb.js';
import {
  createDiscoveryServer,
  DISCOVERY_SERVICES,
  type DiscoveryServer,
} from '../../src/discovery/index.js';
import { presenceRecord } from '../../src/shared/codec.js';
import { createRegistration, type Registration } from '../../src/shared/registry.js';
import type { Topics } from '../../src/shared/topics.js';
import { ZkClient } from '../../src/shared/zookeeper.js';
import { infra, testKafka, unique } from '../helpers/infra.js';
import { testTransport } from '../integration/discovery/helpers.js';

// One discovery for the whole file: starting Kafka consumers per test would dominate the run.
let discovery: DiscoveryServer;
let zk: ZkClient;
let registration: Registration;
let topics: Topics;
const user = unique('alice');
const SEEN_MS = Date.UTC(2026, 0, 2, 3, 4, 5);

beforeAll(async () => {
  const suffix = unique('rpc');
  topics = { messages: `chat.messages.${suffix}`, presence: `chat.presence.${suffix}` };
  const basePath = `/test/${unique('rpc')}/servers`;
  zk = new ZkClient({ connect: infra().zookeeperConnect });
  await zk.start();
  registration = createRegistration({ zk, server: { id: 'c1', wsUrl: 'ws://127.0.0.1:1/ws' }, basePath });
  registration.setConnections(2);
  await registration.start();
  discovery = createDiscoveryServer({
    zookeeperConnect: infra().zookeeperConnect,
    basePath,
    port: 0,
    kafkaBrokers: infra().kafkaBrokers,
    topics,
  });
  await discovery.start();
  const producer = testKafka().producer();
  await producer.connect();
  await producer.send({
    topic: topics.presence,
    messages: [
      presenceRecord(
        create(PresenceEventSchema, {
          serverId: 'c1',
          sessions: 1,
          presence: { userId: user, online: true, lastSeenAt: timestampFromMs(SEEN_MS) },
        }),
      ),
    ],
  });
  await producer.disconnect();
  // The presence consumer joins its group and reads the topic from the beginning.
  const client = createClient(PresenceService, testTransportOnce('connect'));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const answer = await client.getPresence({ userIds: [user] }).catch(() => undefined);
    if (answer?.presences[0]?.online) break;
    if (Date.now() > deadline) throw new Error('presence event never arrived');
    await new Promise((r) => setTimeout(r, 100));
  }
}, 60_000);

afterAll(async () => {
  await discovery?.close();
  await registration?.stop();
  await zk?.close();
  const admin = testKafka().admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [topics.messages, topics.presence] }).catch(() => {});
  await admin.disconnect();
});

/** A Connect transport for beforeAll (testTransport registers per-test cleanup). */
function testTransportOnce(protocol: 'connect') {
  return testTransport(discovery.url, protocol, '1.1');
}

/** A valid request and a check of the answer, per method: a method without one fails the test. */
interface Case {
  request: MessageInitShape<DescMessage>;
  check(responses: unknown[]): void;
}

const CASES: Record<string, Case> = {
  'chat.v1.DiscoveryService.GetChatServer': {
    request: { userId: 'bob' },
    check([r]) {
      expect((r as GetChatServerResponse).server).toMatchObject({ id: 'c1', wsUrl: 'ws://127.0.0.1:1/ws' });
    },
  },
  'chat.v1.DiscoveryService.ListChatServers': {
    request: {},
    check([r]) {
      expect((r as { servers: { id: string }[] }).servers.map((s) => s.id)).toEqual(['c1']);
    },
  },
  'chat.v1.PresenceService.GetPresence': {
    request: { userIds: [user, 'nobody-here'] },
    check([r]) {
      const [known, unknown] = (r as GetPresenceResponse).presences;
      expect(known).toMatchObject({ userId: user, online: true });
      expect(Number(known?.lastSeenAt?.seconds) * 1000).toBe(SEEN_MS);
      expect(unknown).toMatchObject({ userId: 'nobody-here', online: false });
    },
  },
  'grpc.health.v1.Health.Check': {
    request: { service: '' },
    check([r]) {
      expect((r as HealthCheckResponse).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    },
  },
  'grpc.health.v1.Health.Watch': {
    request: { service: 'chat.v1.DiscoveryService' },
    check([r]) {
      expect((r as HealthCheckResponse).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    },
  },
  'grpc.reflection.v1.ServerReflection.ServerReflectionInfo': {
    request: { messageRequest: { case: 'listServices', value: '' } },
    check([r]) {
      const response = (r as ServerReflectionResponse).messageResponse;
      expect(response.case).toBe('listServicesResponse');
      const names = response.case === 'listServicesResponse' ? response.value.service.map((s) => s.name) : [];
      expect(names).toEqual(DISCOVERY_SERVICES.map((s) => s.typeName));
    },
  },
  'grpc.reflection.v1alpha.ServerReflection.ServerReflectionInfo': {
    request: { messageRequest: { case: 'fileContainingSymbol', value: 'chat.v1.PresenceService' } },
    check([r]) {
      const response = (
        r as { messageResponse: { case: string; value: { fileDescriptorProto: Uint8Array[] } } }
      ).messageResponse;
      expect(response.case).toBe('fileDescriptorResponse');
      // presence.proto and the timestamp.proto it imports.
      expect(response.value.fileDescriptorProto).toHaveLength(2);
    },
  },
};

const METHODS: DescMethod[] = DISCOVERY_SERVICES.flatMap((s) => s.methods);

/** One call with a @grpc/grpc-js client; resolves with the first response message. */
function grpcJsCall(method: DescMethod, request: MessageInitShape<DescMessage>): Promise<unknown[]> {
  const client = new grpc.Client(discovery.url.replace('http://', ''), grpc.credentials.createInsecure());
  const path = `/${method.parent.typeName}/${method.name}`;
  const serialize = (m: unknown) => Buffer.from(toBinary(method.input, m as never));
  const deserialize = (b: Buffer) => fromBinary(method.output, b);
  const message = create(method.input, request);
  return new Promise<unknown[]>((resolve, reject) => {
    const done = (err: unknown, value?: unknown) => {
      client.close();
      if (err) reject(err);
      else resolve([value]);
    };
    switch (method.methodKind) {
      case 'unary':
        client.makeUnaryRequest(path, serialize, deserialize, message, (err, value) => done(err, value));
        break;
      case 'server_streaming': {
        const call = client.makeServerStreamRequest(path, serialize, deserialize, message);
        call.once('data', (value) => {
          call.cancel();
          done(undefined, value);
        });
        call.on('error', (err: grpc.ServiceError) => {
          if (err.code !== grpc.status.CANCELLED) done(err);
        });
        break;
      }
      case 'bidi_streaming': {
        const call = client.makeBidiStreamRequest(path, serialize, deserialize);
        call.once('data', (value) => done(undefined, value));
        call.on('error', done);
        call.write(message);
        call.end();
        break;
      }
      default:
        reject(new Error(`no grpc-js call for ${method.methodKind}`));
    }
  });
}

/** One call with connect-es over the given protocol; resolves with the first response message. */
async function connectCall(
  method: DescMethod,
  request: MessageInitShape<DescMessage>,
  protocol: 'connect' | 'grpcweb',
  httpVersion: '1.1' | '2',
): Promise<unknown[]> {
  // biome-ignore lint/suspicious/noExplicitAny: generic over every method of every service
  const client: any = createClient(method.parent, testTransport(discovery.url, protocol, httpVersion));
  const call = client[method.localName];
  switch (method.methodKind) {
    case 'unary':
      return [await call(request)];
    case 'server_streaming': {
      const abort = new AbortController();
      for await (const value of call(request, { signal: abort.signal })) {
        abort.abort();
        return [value];
      }
      return [];
    }
    case 'bidi_streaming': {
      async function* one() {
        yield request;
      }
      for await (const value of call(one())) return [value];
      return [];
    }
    default:
      throw new Error(`no connect call for ${method.methodKind}`);
  }
}

describe('every RPC of every served service', () => {
  it('has a contract case (a new method must be added here)', () => {
    expect(METHODS.map((m) => `${m.parent.typeName}.${m.name}`).sort()).toEqual(Object.keys(CASES).sort());
  });

  describe.each(METHODS.map((m) => [`${m.parent.typeName}/${m.name}`, m] as const))('%s', (_, method) => {
    const c = CASES[`${method.parent.typeName}.${method.name}`]!;
    const bidi = method.methodKind === 'bidi_streaming';

    it('answers over gRPC (@grpc/grpc-js)', async () => {
      c.check(await grpcJsCall(method, c.request));
    });
    it('answers over Connect (HTTP/2)', async () => {
      c.check(await connectCall(method, c.request, 'connect', '2'));
    });
    it('answers over gRPC-Web (HTTP/2)', async () => {
      c.check(await connectCall(method, c.request, 'grpcweb', '2'));
    });
    // Bidirectional streams (reflection) cannot run over HTTP/1.1 at all, so they get no such case.
    if (!bidi) {
      it('answers over Connect and gRPC-Web on HTTP/1.1 (browsers)', async () => {
        c.check(await connectCall(method, c.request, 'connect', '1.1'));
        c.check(await connectCall(method, c.request, 'grpcweb', '1.1'));
      });
    }
  });
});

describe('bad requests', () => {
  const protocols = ['connect', 'grpcweb'] as const;
  const expectCode = async (promise: Promise<unknown>, code: Code) => {
    const err = await promise.then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(err?.code, err?.message).toBe(code);
    return err!;
  };

  it.each(protocols)('%s: bad ids and too many ids get INVALID_ARGUMENT', async (protocol) => {
    const discoveryClient = createClient(DiscoveryService, testTransport(discovery.url, protocol, '1.1'));
    const presence = createClient(PresenceService, testTransport(discovery.url, protocol, '1.1'));
    const empty = await expectCode(discoveryClient.getChatServer({ userId: '' }), Code.InvalidArgument);
    expect(empty.rawMessage).toBe('user_id is empty');
    await expectCode(discoveryClient.getChatServer({ userId: 'x'.repeat(129) }), Code.InvalidArgument);
    await expectCode(discoveryClient.getChatServer({ userId: 'tab\there' }), Code.InvalidArgument);
    const many = Array.from({ length: 1001 }, (_, i) => `u${i}`);
    await expectCode(presence.getPresence({ userIds: many }), Code.InvalidArgument);
    await expectCode(presence.getPresence({ userIds: ['ok', ''] }), Code.InvalidArgument);
    // Exactly 1,000 is fine.
    expect((await presence.getPresence({ userIds: many.slice(0, 1000) })).presences).toHaveLength(1000);
  });

  it.each(protocols)('%s: a request over 64 KiB gets RESOURCE_EXHAUSTED', async (protocol) => {
    const client = createClient(DiscoveryService, testTransport(discovery.url, protocol, '1.1'));
    await expectCode(client.getChatServer({ userId: 'x'.repeat(70_000) }), Code.ResourceExhausted);
  });

  it('gRPC: bytes that are no protobuf get INVALID_ARGUMENT, an oversized frame RESOURCE_EXHAUSTED', async () => {
    const raw = (payload: Buffer) =>
      new Promise<string | undefined>((resolve, reject) => {
        const session = http2.connect(discovery.url);
        session.on('error', reject);
        const stream = session.request({
          ':method': 'POST',
          ':path': '/chat.v1.DiscoveryService/GetChatServer',
          'content-type': 'application/grpc',
          te: 'trailers',
        });
        let status: string | undefined;
        stream.on('response', (h) => {
          status ??= h['grpc-status'] as string | undefined;
        });
        stream.on('trailers', (h) => {
          status = h['grpc-status'] as string | undefined;
        });
        stream.on('data', () => {});
        stream.on('close', () => {
          session.close();
          resolve(status);
        });
        stream.end(payload);
      });
    const frame = (body: Buffer) => {
      const header = Buffer.alloc(5);
      header.writeUInt32BE(body.length, 1);
      return Buffer.concat([header, body]);
    };
    expect(await raw(frame(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])))).toBe(
      String(Code.InvalidArgument),
    );
    expect(await raw(frame(Buffer.alloc(70_000, 0x41)))).toBe(String(Code.ResourceExhausted));
    // And the server still answers.
    const client = createClient(DiscoveryService, testTransport(discovery.url, 'grpc'));
    expect((await client.getChatServer({ userId: 'still-here' })).server?.id).toBe('c1');
  });
});
