/**
 * The Kafka broker is SIGKILLed during load and restarted (a PRIVATE broker on its own port and
 * data directory; the shared one is never touched): while it is down a send answers
 * ChatError{UNAVAILABLE} with its client_message_id and the socket stays open; the SDK retries
 * with the same id; once the broker is back every service recovers without a restart and
 * nothing acked is lost, doubled or reordered. Long: part of `npm run test:faults`.
 */
import { expect, it } from 'vitest';
import { ErrorCode } from '../../gen/chat/v1/frames_pb.js';
import { eventually, startCluster } from '../helpers/cluster.js';
import { connectWs } from '../helpers/ws-client.js';
import { startOwnServer } from './own-infra.js';
import { connectPairs, sendLoop, settleAndCheck } from './workload.js';

it('Kafka SIGKILLed and restarted during load: UNAVAILABLE while down, SDK retries, services recover, nothing lost', async () => {
  const kafka = await startOwnServer('kafka');
  const cluster = await startCluster({ chatServers: 2, writers: 1, kafkaBrokers: [kafka.address] });
  const pairs = await connectPairs(cluster, 4, { sendTimeoutMs: 180_000 });
  const loop = sendLoop(pairs, { pauseMs: 50 });
  const acked = () => pairs.recorder.sends.filter((s) => s.ack).length;
  await eventually(() => acked() >= 40, 20_000);

  const raw = await connectWs(cluster.edges[0]!.url, {
    token: await cluster.token(cluster.user('raw')),
    heartbeat: {},
  });
  await raw.next('catchUpDone');
  await kafka.kill('SIGKILL');
  const downAt = Date.now();
  // A send while the broker is down: a typed, retryable error naming the message; the socket stays.
  raw.sendMessage(cluster.user('nobody'), 'while kafka is down', 'down-1');
  const error = await raw.next('error', 0, 30_000);
  expect(error.code).toBe(ErrorCode.UNAVAILABLE);
  expect(error.clientMessageId).toBe('down-1');
  expect(raw.ws.readyState).toBe(1);
  const ackedWhileDown = acked();

  await kafka.start();
  const upAt = Date.now();
  // The services recover by themselves: acks flow again, and the raw resend is acked.
  await eventually(
    () => acked() >= ackedWhileDown + 40,
    90_000,
    () => ({ acked: acked() }),
  );
  const recoveredMs = Date.now() - upAt;
  const frames = raw.frames.length;
  raw.sendMessage(cluster.user('nobody'), 'while kafka is down', 'down-1');
  const ack = await raw.next('sendAck', frames, 30_000);
  expect(ack.clientMessageId).toBe('down-1');
  await loop.stop();
  const report = await settleAndCheck(cluster, pairs, { timeoutMs: 60_000 });
  expect(cluster.edges.every((e) => e.alive()) && cluster.writers.every((w) => w.alive())).toBe(true);
  console.log(
    `[kafka-killed] down ${upAt - downAt} ms, acks resumed ${recoveredMs} ms after restart; ${report.summary()}`,
  );
}, 240_000);
