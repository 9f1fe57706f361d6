/** The chat server's Prometheus metrics, on its own registry. */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { createMetricsRegistry, LATENCY_BUCKETS } from '../shared/metrics.js';

/** Every metric the edge records. */
export interface EdgeMetrics {
  registry: Registry;
  connections: Gauge;
  framesIn: Counter<'type'>;
  framesOut: Counter<'type'>;
  errors: Counter<'code'>;
  closes: Counter<'code'>;
  sendAckSeconds: Histogram;
  deliverSeconds: Histogram;
  consumerLag: Gauge<'partition'>;
  catchUpSeconds: Histogram;
  catchUpMessages: Counter;
  catchUpRewinds: Counter;
  batchSize: Histogram;
  produceSeconds: Histogram;
}

/** Creates the metrics on a fresh registry (one per server, so in-process tests never share). */
export function createEdgeMetrics(serverId: string): EdgeMetrics {
  const registry = createMetricsRegistry('edge');
  registry.setDefaultLabels({ service: 'edge', server_id: serverId });
  const registers = [registry];
  return {
    registry,
    connections: new Gauge({ name: 'chat_edge_connections', help: 'Open WebSocket connections', registers }),
    framesIn: new Counter({
      name: 'chat_edge_frames_in_total',
      help: 'Client frames received, by type (send, heartbeat, invalid, text)',
      labelNames: ['type'],
      registers,
    }),
    framesOut: new Counter({
      name: 'chat_edge_frames_out_total',
      help: 'Server frames sent, by type',
      labelNames: ['type'],
      registers,
    }),
    errors: new Counter({
      name: 'chat_edge_errors_total',
      help: 'ChatError frames sent, by internal code',
      labelNames: ['code'],
      registers,
    }),
    closes: new Counter({
      name: 'chat_edge_closes_total',
      help: 'Sockets closed by the server, by close code',
      labelNames: ['code'],
      registers,
    }),
    sendAckSeconds: new Histogram({
      name: 'chat_edge_send_ack_seconds',
      help: 'SendMessage received to SendAck sent (Kafka acknowledged)',
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    deliverSeconds: new Histogram({
      name: 'chat_edge_deliver_seconds',
      help: 'sent_at to live delivery on this server (includes clock skew between servers)',
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    consumerLag: new Gauge({
      name: 'chat_edge_consumer_lag',
      help: 'Records behind the partition high watermark, per partition of chat.messages',
      labelNames: ['partition'],
      registers,
    }),
    catchUpSeconds: new Histogram({
      name: 'chat_edge_catch_up_seconds',
      help: 'Connect to CatchUpDone',
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    catchUpMessages: new Counter({
      name: 'chat_edge_catch_up_messages_total',
      help: 'Stored messages sent during catch-up',
      registers,
    }),
    catchUpRewinds: new Counter({
      name: 'chat_edge_catch_up_rewinds_total',
      help: 'Catch-ups whose live buffer overflowed and were re-read from the database',
      registers,
    }),
    batchSize: new Histogram({
      name: 'chat_edge_produce_batch_size',
      help: 'Messages per Kafka produce request',
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
      registers,
    }),
    produceSeconds: new Histogram({
      name: 'chat_edge_produce_seconds',
      help: 'One Kafka produce request, sent to acknowledged (acks=all)',
      buckets: LATENCY_BUCKETS,
      registers,
    }),
  };
}
