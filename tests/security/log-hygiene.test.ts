/**
 * No token and no message body in any log line: a discovery service, two chat servers and a
 * writer run with LOG_LEVEL=debug while users connect (header and ?token= query), chat, send
 * an oversized and an invalid message, and reconnect after a chat server is killed; then every
 * line every process printed is searched for the tokens and the unique bodies.
 */
import { expect, it } from 'vitest';
import { checkHistory, HistoryRecorder } from '../helpers/checker.js';
import { eventually, startCluster } from '../helpers/cluster.js';
import { connectWs } from '../helpers/ws-client.js';

it('LOG_LEVEL=debug: neither tokens nor message bodies appear in any log output', async () => {
  const cluster = await startCluster({ chatServers: 2, writers: 1, logLevel: 'debug' });
  const marker = `secret-body-${cluster.tag}`;
  const recorder = new HistoryRecorder();
  const aliceId = cluster.user('log-alice');
  const bobId = cluster.user('log-bob');
  const tokens: string[] = [];
  const token = async (user: string) => {
    const t = await cluster.token(user);
    tokens.push(t);
    return t;
  };
  const alice = cluster.client(aliceId, { token: () => token(aliceId) });
  const bob = cluster.client(bobId, { token: () => token(bobId) });
  recorder.watch(alice);
  recorder.watch(bob);
  await Promise.all([alice.connect(), bob.connect()]);
  for (let i = 0; i < 5; i++) await recorder.send(alice, bobId, `${marker} #${i}`);
  // An error path with the body: over the limit (TOO_LARGE), and a bad recipient.
  await alice.send(bobId, `${marker} ${'x'.repeat(65_600)}`).catch(() => {});
  await alice.send('bad\u0000recipient', `${marker} bad recipient`).catch(() => {});
  // A browser-style connection with the token in the query string.
  const carolId = cluster.user('log-carol');
  const q = await connectWs(cluster.edges[0]!.url, { queryToken: await token(carolId), heartbeat: {} });
  q.sendMessage(bobId, `${marker} via query token`, 'q1');
  const ack = await q.next('sendAck');
  recorder.sends.push({
    sender: carolId,
    recipient: bobId,
    clientMessageId: 'q1',
    body: `${marker} via query token`,
    invokedSeq: 0,
    ack: { messageId: ack.messageId, sentAtMs: 0, seq: 0 },
  });
  await q.close();
  // A crash and reconnect (more code paths log: reconnects, catch-up).
  const victim = cluster.edges.find((e) => e.id === bob.welcome?.serverId)!;
  victim.kill('SIGKILL');
  await eventually(() => bob.state === 'connected' && bob.welcome?.serverId !== victim.id, 20_000);
  for (let i = 5; i < 8; i++) await recorder.send(alice, bobId, `${marker} #${i}`);
  await eventually(
    async () => recorder.undelivered() === 0 && (await cluster.stored([bobId])).length >= 9,
    20_000,
  );
  const report = checkHistory(recorder.history(await cluster.stored(recorder.users())));
  expect(report.ok, report.summary()).toBe(true);
  await cluster.stop();

  const processes = [cluster.discovery!, ...cluster.edges, ...cluster.writers];
  const all = processes.map((p) => p.logs()).join('\n');
  // The run did log at debug level (otherwise this test would prove nothing).
  expect(all).toMatch(/ INFO /);
  expect(all.split('\n').length).toBeGreaterThan(20);
  const leaks = processes.flatMap((p) =>
    p
      .logs()
      .split('\n')
      .filter(
        (line) =>
          line.includes(marker) || tokens.some((t) => line.includes(t) || line.includes(t.split('.')[2]!)),
      )
      .map((line) => `${p.name}: ${line.slice(0, 300)}`),
  );
  expect(leaks).toEqual([]);
}, 120_000);
