/**
 * PostgreSQL unavailable for a while (a TCP proxy in front of the shared server, used by the
 * chat servers and the writer, is cut): live chat goes on (the send path never touches the
 * database), the writer pauses (health 503, nothing stored), a user connecting meanwhile gets a
 * clear answer (catch-up waits, or UNAVAILABLE and close 1013, then the SDK retries), and once
 * the database is back everything acked is stored once and delivered everywhere.
 */
import { expect, it } from 'vitest';
import { ErrorCode } from '../../gen/chat/v1/frames_pb.js';
import { eventually, startCluster } from '../helpers/cluster.js';
import { infra } from '../helpers/infra.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { connectWs } from '../helpers/ws-client.js';
import { connectPairs, sendLoop, settleAndCheck } from './workload.js';

const OUTAGE_MS = 8000;

it('PostgreSQL cut for 8 s: live chat continues, writer pauses, late joiners wait or get UNAVAILABLE, nothing lost', async () => {
  const target = new URL(infra().databaseUrl);
  const proxy = await startTcpProxy({ targetHost: target.hostname, targetPort: Number(target.port || 5432) });
  const viaProxy = new URL(infra().databaseUrl);
  viaProxy.hostname = '127.0.0.1';
  viaProxy.port = String(proxy.port);
  const cluster = await startCluster({ chatServers: 2, writers: 1, databaseUrl: viaProxy.toString() });
  const writer = cluster.writers[0]!;
  const pairs = await connectPairs(cluster, 4);
  const loop = sendLoop(pairs, { pauseMs: 50 });
  await eventually(() => pairs.recorder.sends.filter((s) => s.ack).length >= 40, 20_000);

  proxy.cut();
  const cutAt = Date.now();
  const ackedAtCut = pairs.recorder.sends.filter((s) => s.ack).length;
  await eventually(async () => (await fetch(`${writer.httpUrl}/healthz`)).status === 503, 10_000);

  // A recipient's second device connects during the outage, through the SDK: it must end up with everything.
  const lateDevice = cluster.client(pairs.recipients[0]!.userId);
  pairs.recorder.watch(lateDevice);
  void lateDevice.connect().catch(() => {});
  // And a raw socket shows exactly what the server answers meanwhile.
  const raw = await connectWs(cluster.edges[0]!.url, {
    token: await cluster.token(pairs.recipients[1]!.userId),
    heartbeat: {},
  });
  const rawOutcome = raw
    .until(
      (frames) => frames.some((f) => f.frame.case === 'catchUpDone' || f.frame.case === 'error'),
      OUTAGE_MS + 30_000,
    )
    .then(() => raw.frames.find((f) => f.frame.case === 'catchUpDone' || f.frame.case === 'error')!.frame);

  // Live chat carries on during the outage.
  await eventually(() => pairs.recorder.sends.filter((s) => s.ack).length >= ackedAtCut + 40, OUTAGE_MS);
  await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (Date.now() - cutAt))));
  proxy.restore();

  const outcome = await rawOutcome;
  if (outcome.case === 'error') {
    expect(outcome.value.code).toBe(ErrorCode.UNAVAILABLE);
    expect((await raw.closed).code).toBe(1013);
  } else {
    expect(outcome.case).toBe('catchUpDone');
  }
  await eventually(async () => (await fetch(`${writer.httpUrl}/healthz`)).status === 200, 20_000);
  await eventually(
    () => lateDevice.state === 'connected',
    30_000,
    () => lateDevice.state,
  );
  await loop.stop();
  const report = await settleAndCheck(cluster, pairs, { timeoutMs: 45_000 });
  expect(cluster.edges.every((e) => e.alive()) && writer.alive()).toBe(true);
  console.log(`[postgres-unavailable] late joiner saw ${outcome.case}; ${report.summary()}`);
}, 120_000);
