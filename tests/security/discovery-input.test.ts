/**
 * Bad input against a real discovery process (Connect over HTTP/1.1, gRPC over HTTP/2, raw TCP):
 * oversized or malformed requests get InvalidArgument / ResourceExhausted, never Internal or a
 * crash, and the process keeps answering valid calls.
 */
import http2 from 'node:http2';
import net from 'node:net';
import { create, toBinary } from '@bufbuild/protobuf';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetChatServerRequestSchema } from '../../gen/chat/v1/discovery_pb.js';
import { type Cluster, startCluster } from '../helpers/cluster.js';

let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster({ chatServers: 1, writers: 1 });
}, 90_000);
afterAll(() => cluster?.stop());

const GET = '/chat.v1.DiscoveryService/GetChatServer';
const PRESENCE = '/chat.v1.PresenceService/GetPresence';

/** Connect unary call over HTTP/1.1; returns the HTTP status and the Connect error code, if any. */
async function connectCall(path: string, body: Uint8Array | string, contentType: string) {
  const res = await fetch(`${cluster.discoveryUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': contentType },
    body: typeof body === 'string' ? body : Buffer.from(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  let code = 'ok';
  if (res.status !== 200) {
    try {
      code = (JSON.parse(text) as { code?: string }).code ?? `http-${res.status}`;
    } catch {
      code = `http-${res.status}`;
    }
  }
  return { status: res.status, code };
}

/**
 * A raw gRPC call over HTTP/2 with a hand-made request body; resolves with grpc-status as soon
 * as the server sends it (a server that refuses a large body stops reading it, so the request
 * stream itself may never finish).
 */
function grpcCall(path: string, payload: Buffer): Promise<{ status: number; message: string }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(cluster.discoveryUrl);
    const timer = setTimeout(() => finish(new Error('no grpc-status within 10 s')), 10_000);
    const finish = (result: { status: number; message: string } | Error) => {
      clearTimeout(timer);
      session.destroy();
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    session.on('error', (err) => finish(err));
    const req = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc+proto',
      te: 'trailers',
    });
    const take = (h: http2.IncomingHttpHeaders) => {
      if (h['grpc-status'] === undefined) return;
      finish({
        status: Number(h['grpc-status']),
        message: decodeURIComponent(String(h['grpc-message'] ?? '')),
      });
    };
    req.on('response', take);
    req.on('trailers', take);
    req.on('data', () => {});
    req.on('error', () => {});
    req.on('close', () => finish(new Error('stream closed without grpc-status')));
    req.end(payload);
  });
}

function grpcFrame(message: Uint8Array, declaredLength = message.length): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(0, 0);
  head.writeUInt32BE(declaredLength, 1);
  return Buffer.concat([head, message]);
}

async function stillServes(): Promise<void> {
  const ok = await connectCall(GET, JSON.stringify({ user_id: 'still-here' }), 'application/json');
  expect(ok.code).toBe('ok');
  expect(cluster.discovery!.alive()).toBe(true);
}

describe('discovery refuses bad input without crashing', () => {
  it('answers InvalidArgument for bad user ids (empty, control characters, too long)', async () => {
    for (const userId of ['', 'a\u0000b', 'tab\there', ' padded ', 'x'.repeat(129), '\u202e'.repeat(60)]) {
      const r = await connectCall(GET, JSON.stringify({ user_id: userId }), 'application/json');
      expect(r.code, JSON.stringify(userId)).toBe('invalid_argument');
    }
    await stillServes();
  });

  it('answers InvalidArgument for malformed JSON and protobuf', async () => {
    for (const body of ['{', 'null', '[]', '{"user_id": 5}', '{"unknown_field": 1}', '"\\ud800"']) {
      const r = await connectCall(GET, body, 'application/json');
      expect(r.code, body).toBe('invalid_argument');
    }
    // A field-1 string whose length prefix runs past the end; a truncated varint; wrong wire type.
    for (const bytes of [
      [0x0a, 0x7f, 0x61],
      [0x08, 0xff, 0xff],
      [0x0d, 1, 2, 3],
    ]) {
      const r = await connectCall(GET, new Uint8Array(bytes), 'application/proto');
      expect(r.code, String(bytes)).toBe('invalid_argument');
    }
    await stillServes();
  });

  it('answers ResourceExhausted for an oversized request (Connect and gRPC)', async () => {
    const big = JSON.stringify({ user_id: 'x'.repeat(200_000) });
    expect((await connectCall(GET, big, 'application/json')).code).toBe('resource_exhausted');
    const huge = toBinary(
      GetChatServerRequestSchema,
      create(GetChatServerRequestSchema, { userId: 'y'.repeat(100_000) }),
    );
    expect((await grpcCall(GET, grpcFrame(huge))).status).toBe(8);
    // A length prefix that announces 2 GiB and sends a few bytes.
    expect((await grpcCall(GET, grpcFrame(new Uint8Array([0x0a, 0x01, 0x61]), 0x7fffffff))).status).toBe(8);
    await stillServes();
  });

  it('answers InvalidArgument for GetPresence with too many or bad ids', async () => {
    const many = JSON.stringify({ user_ids: Array.from({ length: 1001 }, (_, i) => `u${i}`) });
    expect((await connectCall(PRESENCE, many, 'application/json')).code).toBe('invalid_argument');
    const bad = JSON.stringify({ user_ids: ['ok', 'bad\u0007'] });
    expect((await connectCall(PRESENCE, bad, 'application/json')).code).toBe('invalid_argument');
    await stillServes();
  });

  it('never answers Internal to random protobuf bytes (property)', async () => {
    const allowed = new Set(['ok', 'invalid_argument', 'unavailable', 'resource_exhausted']);
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 300 }),
        fc.constantFrom(GET, PRESENCE),
        async (bytes, path) => {
          const r = await connectCall(path, bytes, 'application/proto');
          expect(allowed, r.code).toContain(r.code);
        },
      ),
      { numRuns: 150 },
    );
    await stillServes();
  });

  it('never answers Internal to random gRPC frames (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), fc.nat(), async (bytes, length) => {
        const declared = length % 3 === 0 ? bytes.length : length;
        const r = await grpcCall(GET, grpcFrame(bytes, declared));
        // 12 (UNIMPLEMENTED) is connect-es's answer to a unary gRPC call that carries no message.
        expect([0, 3, 8, 12, 14], `${r.status} ${r.message}`).toContain(r.status);
      }),
      { numRuns: 60 },
    );
    await stillServes();
  });

  it('survives garbage on the raw port and slowloris connections', async () => {
    const sockets: net.Socket[] = [];
    const payloads = [
      Buffer.from('GARBAGE\r\n\r\n'),
      Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\u0000\u0000\u0004\u0009\u0000'),
      Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 37) & 0xff)),
      Buffer.from(
        'POST /chat.v1.DiscoveryService/GetChatServer HTTP/1.1\r\nHost: x\r\nContent-Length: 999999\r\n\r\n{',
      ),
      Buffer.from('P'),
    ];
    const { port } = new URL(cluster.discoveryUrl);
    await Promise.all(
      payloads.map(
        (p) =>
          new Promise<void>((resolve) => {
            const s = net.connect(Number(port), '127.0.0.1', () => {
              s.write(p);
              resolve();
            });
            s.on('error', () => {});
            sockets.push(s);
          }),
      ),
    );
    await stillServes();
    for (const s of sockets) s.destroy();
    await stillServes();
  });
});
