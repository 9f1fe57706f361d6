/**
 * Writers fail while SDK users chat: a lone writer SIGKILLed mid-batch and restarted, and two
 * writers sharing the group with one SIGKILLed (the other takes over its partitions after the
 * rebalance). Live delivery never depends on the writer; afterwards every acked message is
 * stored exactly once.
 */
import { expect, it } from 'vitest';
import { eventually, startCluster } from '../helpers/cluster.js';
import { connectPairs, sendLoop, settleAndCheck } from './workload.js';

const ackedCount = (pairs: Awaited<ReturnType<typeof connectPairs>>) =>
  pairs.recorder.sends.filter((s) => s.ack).length;

it('a writer SIGKILLed mid-batch and restarted: every acked message stored exactly once', async () => {
  const cluster = await startCluster({ chatServers: 2, writers: 1 });
  const pairs = await connectPairs(cluster, 6);
  const loop = sendLoop(pairs, { pauseMs: 0 });
  await eventually(() => ackedCount(pairs) >= 100, 20_000);
  cluster.writers[0]!.kill('SIGKILL');
  // Live delivery goes on without a writer.
  const atKill = ackedCount(pairs);
  await eventually(() => ackedCount(pairs) >= atKill + 100, 20_000);
  await cluster.startWriter();
  const atRestart = ackedCount(pairs);
  await eventually(() => ackedCount(pairs) >= atRestart + 100, 20_000);
  await loop.stop();
  const report = await settleAndCheck(cluster, pairs);
  console.log(`[writer-killed] ${report.summary()}`);
}, 90_000);

it('two writers, one SIGKILLed mid-stream: the other takes over after the rebalance, exactly once', async () => {
  const cluster = await startCluster({ chatServers: 1, writers: 2, messagePartitions: 4 });
  const pairs = await connectPairs(cluster, 6);
  const loop = sendLoop(pairs, { pauseMs: 0 });
  await eventually(() => ackedCount(pairs) >= 150, 20_000);
  const [victim, survivor] = cluster.writers as [(typeof cluster.writers)[0], (typeof cluster.writers)[0]];
  const rowsBefore = (await survivor.metric('chat_writer_rows_written_total')) ?? 0;
  victim.kill('SIGKILL');
  const atKill = ackedCount(pairs);
  await eventually(() => ackedCount(pairs) >= atKill + 150, 20_000);
  await loop.stop();
  const report = await settleAndCheck(cluster, pairs, { timeoutMs: 45_000 });
  // The survivor stored the victim's share too (its partitions moved to it).
  const rowsAfter = (await survivor.metric('chat_writer_rows_written_total')) ?? 0;
  expect(rowsAfter - rowsBefore).toBeGreaterThan(0);
  console.log(`[writer-rebalance] ${report.summary()}`);
}, 90_000);
