/**
 * The Node request handler for the RPCs: connect-node's adapter, plus one correction.
 *
 * connect-es reports a binary request body that is not a valid protobuf message as INTERNAL
 * (the same code it uses when a client cannot parse a server's response). For a server that is
 * the client's mistake: INVALID_ARGUMENT. So each uncompressed binary request message is
 * checked against the method's input type as it streams in, and a bad one ends the call with
 * INVALID_ARGUMENT before connect parses it. Sizes are left to connect (RESOURCE_EXHAUSTED over
 * readMaxBytes), as are compressed messages and JSON (which connect already answers with
 * INVALID_ARGUMENT).
 */
import { type DescMessage, fromBinary } from '@bufbuild/protobuf';
import {
  Code,
  ConnectError,
  type ConnectRouter,
  type ConnectRouterOptions,
  createConnectRouter,
} from '@connectrpc/connect';
import type { UniversalHandler, UniversalServerResponse } from '@connectrpc/connect/protocol';
import {
  compressionBrotli,
  compressionGzip,
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
} from '@connectrpc/connect-node';
import type { Logger } from '../shared/logger.js';
import type { DualHandler } from './dual-server.js';

/** Options of {@link createRpcHandler}. */
export interface RpcHandlerOptions extends ConnectRouterOptions {
  /** Registers the services. */
  routes: (router: ConnectRouter) => void;
  /** Where handler failures that reach no client are logged. */
  logger?: Logger;
}

/** Content types whose body is a sequence of 5-byte-prefixed binary messages. */
const ENVELOPED = /^application\/(grpc|grpc-web|connect)(\+proto)?(;|$)/i;
/** Connect unary with the binary codec: the body is the message itself. */
const CONNECT_UNARY_PROTO = /^application\/proto(;|$)/i;

/** A Node handler (HTTP/1.1 and HTTP/2) serving the routes. */
export function createRpcHandler(options: RpcHandlerOptions): DualHandler {
  const router = createConnectRouter({
    acceptCompression: [compressionGzip, compressionBrotli],
    ...options,
  });
  options.routes(router);
  const maxBytes = options.readMaxBytes ?? 0xffffffff;
  const paths = new Map<string, UniversalHandler>();
  for (const handler of router.handlers) paths.set(handler.requestPath, checkedHandler(handler, maxBytes));
  const log = options.logger;

  return (req, res) => {
    const handler = paths.get(req.url?.split('?', 2)[0] ?? '');
    if (!handler) {
      res.writeHead(404);
      res.end();
      return;
    }
    const uReq = universalRequestFromNodeRequest(req, res, undefined, undefined);
    handler(uReq)
      .then((uRes) => universalResponseToNodeResponse(drainRequestAfter(uRes, req), res))
      .catch((reason: unknown) => {
        if (ConnectError.from(reason).code === Code.Aborted) return;
        log?.warn({ err: reason, rpc: handler.requestPath }, 'rpc handler failed');
      });
  };
}

/**
 * A call answered before its request was read to the end (over a limit, say) would leave an
 * HTTP/2 client blocked on flow control, unable to finish sending and so to see the status.
 * Once the response body is out, the unread rest of the request is discarded (as grpc-js does).
 */
function drainRequestAfter(
  uRes: UniversalServerResponse,
  req: Parameters<DualHandler>[0],
): UniversalServerResponse {
  const body = uRes.body;
  if (!body) {
    discardUnread(req);
    return uRes;
  }
  return {
    ...uRes,
    body: (async function* () {
      yield* body;
      discardUnread(req);
    })(),
  };
}

function discardUnread(req: Parameters<DualHandler>[0]): void {
  if (req.readableEnded) return;
  if ('stream' in req) {
    // connect destroyed the compat request when it stopped reading, and the compat layer pauses
    // the HTTP/2 stream whenever it cannot hand data on: read the stream below directly.
    const stream = req.stream;
    stream.removeAllListeners('data');
    stream.on('data', () => {});
    stream.resume();
  } else {
    req.resume();
  }
}

function checkedHandler(handler: UniversalHandler, maxBytes: number): UniversalHandler {
  const input = handler.method.input;
  const checked: UniversalHandler = Object.assign((req: Parameters<UniversalHandler>[0]) => {
    const contentType = req.header.get('content-type') ?? '';
    const encoding = req.header.get('content-encoding');
    const body = req.body;
    if (!isByteStream(body)) return handler(req);
    if (ENVELOPED.test(contentType)) return handler({ ...req, body: checkEnvelopes(body, input, maxBytes) });
    if (CONNECT_UNARY_PROTO.test(contentType) && (!encoding || encoding === 'identity')) {
      return handler({ ...req, body: checkWhole(body, input, maxBytes) });
    }
    return handler(req);
  }, handler);
  return checked;
}

function isByteStream(body: unknown): body is AsyncIterable<Uint8Array> {
  return typeof body === 'object' && body !== null && Symbol.asyncIterator in body;
}

function checkMessage(input: DescMessage, bytes: Uint8Array): void {
  try {
    fromBinary(input, bytes);
  } catch (err) {
    throw new ConnectError(
      `request is not a valid ${input.typeName}: ${(err as Error).message}`,
      Code.InvalidArgument,
    );
  }
}

/** Passes enveloped messages through, checking each uncompressed one that fits the limit. */
async function* checkEnvelopes(
  body: AsyncIterable<Uint8Array>,
  input: DescMessage,
  maxBytes: number,
): AsyncIterable<Uint8Array> {
  let pending: Uint8Array = new Uint8Array(0);
  let passThrough = false;
  for await (const chunk of body) {
    if (passThrough) {
      yield chunk;
      continue;
    }
    pending = pending.length === 0 ? chunk : concat(pending, chunk);
    let offset = 0;
    while (pending.length - offset >= 5) {
      const flags = pending[offset]!;
      const length = new DataView(pending.buffer, pending.byteOffset + offset + 1, 4).getUint32(0);
      if (flags !== 0 || length > maxBytes) {
        // Compressed, end-of-stream or oversized: connect decides.
        passThrough = true;
        break;
      }
      if (pending.length - offset - 5 < length) break;
      checkMessage(input, pending.subarray(offset + 5, offset + 5 + length));
      offset += 5 + length;
    }
    if (passThrough) {
      yield pending;
      pending = new Uint8Array(0);
    } else if (offset > 0) {
      yield pending.subarray(0, offset);
      pending = pending.subarray(offset);
    }
  }
  if (pending.length > 0) yield pending;
}

/** Buffers a whole Connect unary body (up to the limit) and checks it. */
async function* checkWhole(
  body: AsyncIterable<Uint8Array>,
  input: DescMessage,
  maxBytes: number,
): AsyncIterable<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const iterator = body[Symbol.asyncIterator]();
  for (;;) {
    const next = await iterator.next();
    if (next.done) break;
    chunks.push(next.value);
    size += next.value.length;
    if (size > maxBytes) {
      // Over the limit: connect answers RESOURCE_EXHAUSTED from the rest of the stream.
      yield* chunks;
      for (;;) {
        const rest = await iterator.next();
        if (rest.done) return;
        yield rest.value;
      }
    }
  }
  const whole = chunks.length === 1 ? chunks[0]! : concat(...chunks);
  checkMessage(input, whole);
  yield whole;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
