/**
 * Load held: a soak at a moderate, fixed rate through two chat servers and a writer, sampling
 * every service's RSS and live heap (after a forced full GC, see GC_ON_SIGNAL_ENV) from /metrics
 * every 2 s. After warm-up there must be no growth trend, and
 * the checker must find nothing lost, doubled or reordered.
 *
 * CI runs a short version (25 s), `npm run test:faults` 60 s; the full 10-minute soak:
 *   CHAT_FAULTS=1 SOAK_SECONDS=600 npx vitest run tests/reliability/soak.test.ts
 * SOAK_RATE is messages per second over all pairs (default 150; set it to half the sustainable
 * rate the benchmarks measured).
 */
import { expect, it } from 'vitest';
import type { ClusterProcess } from '../helpers/cluster.js';
import { startCluster } from '../helpers/cluster.js';
import { connectPairs, FAULTS, GC_ON_SIGNAL_ENV, liveHeap, settleAndCheck } from './workload.js';

const SECONDS = Number(process.env.SOAK_SECONDS ?? (FAULTS ? 60 : 25));
const RATE = Number(process.env.SOAK_RATE ?? 150);
const PAIRS = 20;
const TICK_MS = 100;

interface Sample {
  at: number;
  rss: number;
  heap: number;
}

/** RSS, and the heap after a forced full collection (live objects only). */
async function sample(p: ClusterProcess): Promise<Sample> {
  const heap = await liveHeap(p);
  return { at: Date.now(), rss: (await p.metric('process_resident_memory_bytes')) ?? Number.NaN, heap };
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

const max = (xs: number[]) => Math.max(...xs);
const MiB = 1024 * 1024;

it(
  `soak: ${RATE} msg/s for ${SECONDS} s: no memory growth after warm-up, zero lost`,
  async () => {
    const cluster = await startCluster({
      chatServers: 2,
      writers: 1,
      messagePartitions: 6,
      env: GC_ON_SIGNAL_ENV,
    });
    const pairs = await connectPairs(cluster, PAIRS);
    const services = [...cluster.edges, ...cluster.writers];
    const samples = new Map<ClusterProcess, Sample[]>(services.map((s) => [s, []]));
    const latencies: { at: number; ms: number }[] = [];
    const start = Date.now();
    const end = start + SECONDS * 1000;
    const inFlight = new Set<Promise<unknown>>();
    let n = 0;
    const sampler = setInterval(() => {
      for (const s of services)
        void sample(s).then(
          (x) => samples.get(s)!.push(x),
          () => {},
        );
    }, 2000);
    try {
      const perTick = (RATE * TICK_MS) / 1000;
      let owed = 0;
      while (Date.now() < end) {
        owed += perTick;
        for (; owed >= 1; owed--) {
          const p = n++ % PAIRS;
          const t0 = Date.now();
          const sent = pairs.recorder
            .send(pairs.senders[p]!, pairs.recipients[p]!.userId, `soak ${n}`)
            .then((r) => {
              if (r.ack) latencies.push({ at: t0, ms: Date.now() - t0 });
            });
          inFlight.add(sent);
          void sent.finally(() => inFlight.delete(sent));
        }
        await new Promise((r) => setTimeout(r, TICK_MS));
      }
      await Promise.all(inFlight);
    } finally {
      clearInterval(sampler);
    }
    const report = await settleAndCheck(cluster, pairs, { timeoutMs: 60_000 });
    expect(report.counts.failed).toBe(0);

    // Thirds of the run: the first is warm-up; the last must not be above the middle by a trend.
    const third = (SECONDS * 1000) / 3;
    const lines: string[] = [];
    for (const [proc, xs] of samples) {
      const middle = xs.filter((x) => x.at - start >= third && x.at - start < 2 * third);
      const last = xs.filter((x) => x.at - start >= 2 * third);
      expect(middle.length && last.length, `${proc.name}: no samples`).toBeGreaterThan(0);
      const heapMid = max(middle.map((x) => x.heap));
      const heapLast = max(last.map((x) => x.heap));
      const rssMid = max(middle.map((x) => x.rss));
      const rssLast = max(last.map((x) => x.rss));
      lines.push(
        `${proc.name} heap ${(heapMid / MiB).toFixed(1)} -> ${(heapLast / MiB).toFixed(1)} MiB, ` +
          `rss ${(rssMid / MiB).toFixed(1)} -> ${(rssLast / MiB).toFixed(1)} MiB`,
      );
      // Lenient on purpose: a chat server remembers each acked send for resend de-duplication (2 min,
      // up to 50,000 entries, ~0.8 KiB each), so its live heap rises until that window is full.
      expect(heapLast, `${proc.name} live heap grew`).toBeLessThanOrEqual(heapMid * 1.25 + 8 * MiB);
      expect(rssLast, `${proc.name} RSS grew`).toBeLessThanOrEqual(rssMid * 1.2 + 16 * MiB);
    }
    const p99 = (from: number, to: number) =>
      percentile(
        latencies.filter((l) => l.at - start >= from && l.at - start < to).map((l) => l.ms),
        99,
      );
    const p99Mid = p99(third, 2 * third);
    const p99Last = p99(2 * third, 3 * third);
    console.log(
      `[soak] ${report.counts.acked} acked at ${RATE}/s for ${SECONDS}s; send->ack p99 ${p99Mid} -> ${p99Last} ms\n  ` +
        lines.join('\n  '),
    );
    // A long soak also holds its latency (short CI runs are too noisy to judge it).
    if (SECONDS >= 300) expect(p99Last).toBeLessThanOrEqual(p99Mid * 2 + 20);
  },
  (SECONDS + 150) * 1000,
);
