/** grpc.health.v1.Health over HealthState: Check answers, Watch follows changes and ends on shutdown. */
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, createHandlerContext } from '@connectrpc/connect';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  Health,
  HealthCheckRequestSchema,
  HealthCheckResponse_ServingStatus as Status,
} from '../../../gen/grpc/health/v1/health_pb.js';
import { HealthState, healthService } from '../../../src/discovery/health.js';

function context(method: 'Check' | 'Watch') {
  const ctx = createHandlerContext({
    service: Health,
    method: Health.method[method === 'Check' ? 'check' : 'watch'],
    protocolName: 'test',
    requestMethod: 'POST',
    url: `http://test/grpc.health.v1.Health/${method}`,
  });
  onTestFinished(() => ctx.abort());
  return ctx;
}

describe('healthService', () => {
  it('answers Check from the state and NOT_FOUND for an unknown service', async () => {
    const state = new HealthState(['chat.v1.DiscoveryService'], ['grpc.health.v1.Health']);
    const health = healthService(state);
    const check = (service: string) =>
      health.check!(create(HealthCheckRequestSchema, { service }), context('Check'));
    expect((await check('')).status).toBe(Status.NOT_SERVING);
    expect((await check('grpc.health.v1.Health')).status).toBe(Status.SERVING);
    state.serving = true;
    expect((await check('chat.v1.DiscoveryService')).status).toBe(Status.SERVING);
    await expect(Promise.resolve().then(() => check('nope'))).rejects.toSatisfy(
      (err) => ConnectError.from(err).code === Code.NotFound,
    );
  });

  it('streams changes on Watch and ends the stream when the server shuts down', async () => {
    const state = new HealthState([], []);
    const shutdown = new AbortController();
    const watch = healthService(state, shutdown.signal).watch!(
      create(HealthCheckRequestSchema, { service: '' }),
      context('Watch'),
    )[Symbol.asyncIterator]();
    expect((await watch.next()).value?.status).toBe(Status.NOT_SERVING);
    const changed = watch.next();
    state.serving = true;
    expect((await changed).value?.status).toBe(Status.SERVING);
    const ended = watch.next();
    shutdown.abort();
    expect(await ended).toEqual({ done: true, value: undefined });
  });

  it('ends the Watch stream when the client goes away', async () => {
    const state = new HealthState([], []);
    const ctx = context('Watch');
    const watch = healthService(state, new AbortController().signal).watch!(
      create(HealthCheckRequestSchema, { service: '' }),
      ctx,
    )[Symbol.asyncIterator]();
    await watch.next();
    const ended = watch.next();
    ctx.abort();
    expect(await ended).toEqual({ done: true, value: undefined });
  });
});
