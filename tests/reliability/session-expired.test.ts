/**
 * A chat server's ZooKeeper session expires while the process lives: SIGSTOP past the session
 * timeout, then SIGCONT. Discovery stops handing it out within the session timeout plus a
 * bound, the server re-registers under a new session after it resumes, and the chat carried on
 * meanwhile loses nothing.
 */
import { create } from '@bufbuild/protobuf';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { expect, it } from 'vitest';
import { DiscoveryService, GetChatServerRequestSchema } from '../../gen/chat/v1/discovery_pb.js';
import { eventually, startCluster } from '../helpers/cluster.js';
import { connectPairs, sendLoop, settleAndCheck } from './workload.js';

/** The chat servers' ZooKeeper session timeout (their default; not configurable by env yet). */
const SESSION_TIMEOUT_MS = 6000;
/** How long past the session timeout discovery may still hand out a dead server. */
const BOUND_MS = 2000;

it('SIGSTOP past the session timeout: discovery drops the server in time, it re-registers on SIGCONT', async () => {
  const cluster = await startCluster({ chatServers: 2, writers: 1 });
  const [paused, other] = cluster.edges as [(typeof cluster.edges)[0], (typeof cluster.edges)[0]];
  const discovery = createClient(
    DiscoveryService,
    createConnectTransport({ baseUrl: cluster.discoveryUrl, httpVersion: '1.1' }),
  );
  const listed = async () =>
    (await discovery.listChatServers({})).servers.filter((s) => !s.draining).map((s) => s.id);
  await eventually(async () => (await listed()).length === 2, 10_000);

  const pairs = await connectPairs(cluster, 4);
  const loop = sendLoop(pairs, { pauseMs: 50 });
  await eventually(() => pairs.recorder.sends.filter((s) => s.ack).length >= 20, 20_000);

  paused.pause();
  const pausedAt = Date.now();
  // Ask discovery all the time; remember the last time it named the paused server.
  let lastHandedOut = pausedAt;
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const { server } = await discovery.getChatServer(
        create(GetChatServerRequestSchema, { userId: 'probe' }),
      );
      if (server?.id === paused.id) lastHandedOut = Date.now();
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  await eventually(async () => !(await listed()).includes(paused.id), SESSION_TIMEOUT_MS + BOUND_MS + 2000);
  const droppedAfterMs = Date.now() - pausedAt;
  // Past the session timeout for sure (the session is expired on the ZooKeeper side).
  await new Promise((r) => setTimeout(r, Math.max(0, SESSION_TIMEOUT_MS + 2500 - droppedAfterMs)));
  polling = false;
  await poller;
  expect(lastHandedOut - pausedAt, 'discovery handed out the paused server too long').toBeLessThanOrEqual(
    SESSION_TIMEOUT_MS + BOUND_MS,
  );

  paused.resume();
  const resumedAt = Date.now();
  await eventually(async () => (await listed()).includes(paused.id), 15_000, listed);
  const reRegisteredMs = Date.now() - resumedAt;
  expect(paused.alive()).toBe(true);
  expect(other.alive()).toBe(true);

  const before = loop.calls;
  await eventually(() => loop.calls >= before + 40, 30_000);
  await loop.stop();
  const report = await settleAndCheck(cluster, pairs, { timeoutMs: 45_000 });
  console.log(
    `[session-expired] dropped from discovery after ${droppedAfterMs} ms (last handed out at ` +
      `+${lastHandedOut - pausedAt} ms), re-registered ${reRegisteredMs} ms after SIGCONT; ${report.summary()}`,
  );
}, 120_000);
