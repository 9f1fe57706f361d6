/**
 * Prometheus metrics (prom-client). Each service owns one Registry, so tests that run several
 * services in one process never share counters.
 */
import { collectDefaultMetrics, Registry } from 'prom-client';

/** A registry with the process metrics (CPU, RSS, heap, event loop lag) and a `service` label. */
export function createMetricsRegistry(service: string, options: { defaultMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  return registry;
}

/** Latency buckets in seconds, 0.5 ms .. 10 s. */
export const LATENCY_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
