/**
 * The open-loop load generator core. Message k of a run is due at t0 + k / rate whatever happens
 * to earlier messages, and every latency is measured from that intended time, so a server that
 * stalls shows up in the percentiles instead of silently slowing the generator down
 * (coordinated omission). Users chat in fixed pairs (user 2p with user 2p+1), the two of a pair
 * on different servers whenever there are two or more, and the direction alternates.
 */
import { encodeHistogram, newHistogram, recordMs } from './histogram.js';
import type { Connector, SimUser, UserEvents } from './transport.js';

/** Options of one generator's share of a run. */
export interface LoadOptions {
  /** Distinct id prefix for this run and generator (user ids and client_message_ids derive from it). */
  prefix: string;
  /** Simulated users (one connection each); rounded up to an even number. */
  users: number;
  /** Number of servers the users are spread over (user i goes to server i mod servers). */
  servers: number;
  /** Offered messages per second (this generator's share). 0 = idle connections only. */
  rate: number;
  /** Warm-up before measuring, ms: sent at the same rate, not recorded. */
  warmupMs: number;
  /** Measured window, ms. */
  durationMs: number;
  /** After the window: how long to wait for outstanding acks and deliveries, ms. */
  drainMs: number;
  /** Message body size in bytes (ASCII). */
  bodyBytes: number;
  /** Connections opened at once while connecting. */
  connectConcurrency: number;
}

/** What one generator measured (histograms encoded so they can be merged across processes). */
export interface LoadResult {
  users: number;
  connected: number;
  connectFailures: number;
  /** First connect error message, if any. */
  connectError?: string;
  connectMs: number;
  offeredRate: number;
  measuredMs: number;
  /** Sends due in the window (all were sent). */
  sent: number;
  acked: number;
  delivered: number;
  errors: Record<string, number>;
  /** Sends of the window with no ack / no delivery by the end of the drain. */
  unacked: number;
  undelivered: number;
  unexpectedCloses: number;
  ackHistogram: string;
  deliverHistogram: string;
  heartbeatHistogram: string;
  /** How late the generator itself sent (now - intended time at the send), a check that it kept up. */
  sendLagHistogram: string;
  generatorCpuSeconds: number;
}

interface Pending {
  intended: number;
  measured: boolean;
  acked: boolean;
  delivered: boolean;
}

/** Hooks between phases, so the parent can align its CPU/RSS sampling window. */
export interface LoadPhases {
  /** All users are connected; resolve to start sending. */
  connected(): Promise<void>;
  /** Warm-up is over; the measured window starts. */
  measuring(): void;
  /** The measured window is over (drain follows). */
  measured(): void;
}

async function connectAll(
  connect: Connector,
  ids: string[],
  options: LoadOptions,
  events: (userId: string) => UserEvents,
): Promise<{ users: Array<SimUser | undefined>; failures: number; firstError?: string }> {
  const users: Array<SimUser | undefined> = new Array(ids.length);
  let failures = 0;
  let firstError: string | undefined;
  let next = 0;
  // Give up early when connections keep failing (a refusing server would otherwise cost
  // ids / concurrency connect timeouts).
  const maxFailures = Math.max(10, Math.ceil(ids.length * 0.05));
  const worker = async () => {
    while (next < ids.length && failures < maxFailures) {
      const i = next++;
      try {
        users[i] = await connect(ids[i]!, i % options.servers, events(ids[i]!));
      } catch (err) {
        failures++;
        firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.connectConcurrency) }, worker));
  return { users, failures, ...(firstError ? { firstError } : {}) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs one generator's share of a run. */
export async function runLoad(
  connect: Connector,
  options: LoadOptions,
  phases: LoadPhases,
): Promise<LoadResult> {
  const cpuAtStart = process.cpuUsage();
  const userCount = options.users + (options.users % 2);
  const ids = Array.from({ length: userCount }, (_, i) => `${options.prefix}-u${i}`);
  const ack = newHistogram();
  const deliver = newHistogram();
  const heartbeat = newHistogram();
  const sendLag = newHistogram();
  const pending = new Map<string, Pending>();
  const errors: Record<string, number> = {};
  let acked = 0;
  let delivered = 0;
  let unexpectedCloses = 0;
  let closing = false;
  let window = false;
  const settle = (id: string, p: Pending) => {
    if (p.acked && p.delivered) pending.delete(id);
  };
  const events = (): UserEvents => ({
    onAck(id) {
      const p = pending.get(id);
      if (!p || p.acked) return;
      p.acked = true;
      if (p.measured) {
        acked++;
        recordMs(ack, performance.now() - p.intended);
      }
      settle(id, p);
    },
    onDeliver(id) {
      const p = pending.get(id);
      if (!p || p.delivered) return;
      p.delivered = true;
      if (p.measured) {
        delivered++;
        recordMs(deliver, performance.now() - p.intended);
      }
      settle(id, p);
    },
    onError(id, code) {
      const p = pending.get(id);
      if (p?.measured) errors[code] = (errors[code] ?? 0) + 1;
      // A refused send will never be delivered; keep it pending so it counts as undelivered.
      if (p) p.acked = true;
    },
    onHeartbeatRtt(ms) {
      if (window) recordMs(heartbeat, ms);
    },
    onClose() {
      if (!closing) unexpectedCloses++;
    },
  });

  const connectStart = performance.now();
  const { users, failures, firstError } = await connectAll(connect, ids, options, events);
  const connectMs = performance.now() - connectStart;
  await phases.connected();

  let sent = 0;
  const pairs = userCount / 2;
  const body = 'x'.repeat(options.bodyBytes);
  let measuredMs = 0;
  if (options.rate > 0) {
    const interval = 1000 / options.rate;
    const t0 = performance.now() + 20;
    const measureFrom = t0 + options.warmupMs;
    const end = measureFrom + options.durationMs;
    let k = 0;
    let measuring = false;
    await new Promise<void>((resolve) => {
      const tick = () => {
        const now = performance.now();
        if (!measuring && now >= measureFrom) {
          measuring = true;
          window = true;
          phases.measuring();
        }
        for (;;) {
          const intended = t0 + k * interval;
          if (intended > now || intended >= end) break;
          const pair = k % pairs;
          const dir = Math.floor(k / pairs) % 2;
          const from = users[2 * pair + dir];
          const to = ids[2 * pair + 1 - dir]!;
          const id = `${options.prefix}-${k}`;
          k++;
          if (!from || !users[2 * pair + 1 - dir]) continue;
          const measured = intended >= measureFrom;
          pending.set(id, { intended, measured, acked: false, delivered: false });
          if (measured) {
            sent++;
            recordMs(sendLag, now - intended);
          }
          from.send(id, to, body);
        }
        if (t0 + k * interval >= end) {
          resolve();
          return;
        }
        setTimeout(tick, Math.max(0, Math.min(5, t0 + k * interval - performance.now())));
      };
      setTimeout(tick, 20);
    });
    measuredMs = options.durationMs;
    window = false;
    phases.measured();
    const drainEnd = performance.now() + options.drainMs;
    while (performance.now() < drainEnd) {
      let open = 0;
      for (const p of pending.values()) if (p.measured) open++;
      if (open === 0) break;
      await sleep(50);
    }
  } else {
    window = true;
    phases.measuring();
    await sleep(options.durationMs);
    measuredMs = options.durationMs;
    window = false;
    phases.measured();
  }

  let unacked = 0;
  let undelivered = 0;
  for (const p of pending.values()) {
    if (!p.measured) continue;
    if (!p.acked) unacked++;
    if (!p.delivered) undelivered++;
  }
  closing = true;
  for (const u of users) u?.close();
  const cpu = process.cpuUsage(cpuAtStart);
  return {
    users: userCount,
    connected: users.filter(Boolean).length,
    connectFailures: failures,
    ...(firstError ? { connectError: firstError } : {}),
    connectMs: Math.round(connectMs),
    offeredRate: options.rate,
    measuredMs,
    sent,
    acked,
    delivered,
    errors,
    unacked,
    undelivered,
    unexpectedCloses,
    ackHistogram: encodeHistogram(ack),
    deliverHistogram: encodeHistogram(deliver),
    heartbeatHistogram: encodeHistogram(heartbeat),
    sendLagHistogram: encodeHistogram(sendLag),
    generatorCpuSeconds: (cpu.user + cpu.system) / 1e6,
  };
}
