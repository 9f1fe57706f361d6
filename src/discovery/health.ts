/**
 * grpc.health.v1.Health for the discovery service. Its answers are only as good as its
 * ZooKeeper view, so the server as a whole ("") and each chat.v1 service are SERVING while the
 * ZooKeeper session is connected and the view is loaded, NOT_SERVING otherwise. The protocol
 * services (health, reflection) are always SERVING: they work without ZooKeeper.
 */
import { EventEmitter, on } from 'node:events';
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';
import {
  type Health,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from '../../gen/grpc/health/v1/health_pb.js';

/** The serving state behind the health service. */
export class HealthState extends EventEmitter<{ change: [] }> {
  readonly #dependent: ReadonlySet<string>;
  readonly #independent: ReadonlySet<string>;
  #serving = false;

  /**
   * @param dependent services whose status follows {@link serving} ("" is added)
   * @param independent services that are always SERVING
   */
  constructor(dependent: readonly string[], independent: readonly string[]) {
    super();
    this.#dependent = new Set(['', ...dependent]);
    this.#independent = new Set(independent);
  }

  get serving(): boolean {
    return this.#serving;
  }

  set serving(value: boolean) {
    if (value === this.#serving) return;
    this.#serving = value;
    this.emit('change');
  }

  /** The status of a service; undefined when the server does not serve it. */
  status(service: string): ServingStatus | undefined {
    if (this.#independent.has(service)) return ServingStatus.SERVING;
    if (!this.#dependent.has(service)) return undefined;
    return this.#serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
  }
}

/**
 * The grpc.health.v1.Health implementation over a {@link HealthState}. A Watch stream ends when
 * the client goes away or `shutdown` aborts (the server closes).
 */
export function healthService(state: HealthState, shutdown?: AbortSignal): ServiceImpl<typeof Health> {
  return {
    check(request) {
      const status = state.status(request.service);
      if (status === undefined) throw new ConnectError(`unknown service "${request.service}"`, Code.NotFound);
      return create(HealthCheckResponseSchema, { status });
    },
    async *watch(request, context) {
      const current = () => state.status(request.service) ?? ServingStatus.SERVICE_UNKNOWN;
      let last = current();
      yield create(HealthCheckResponseSchema, { status: last });
      const signal = shutdown ? AbortSignal.any([context.signal, shutdown]) : context.signal;
      try {
        for await (const _ of on(state, 'change', { signal })) {
          const status = current();
          if (status === last) continue;
          last = status;
          yield create(HealthCheckResponseSchema, { status });
        }
      } catch (err) {
        // The client went away or the server shuts down: the stream just ends.
        if (!signal.aborted) throw err;
      }
    },
  };
}
