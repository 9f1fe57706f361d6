/**
 * A reconnect storm: 2,000 SDK clients on three chat servers; one is SIGKILLed and its share
 * reconnects at once through discovery. The survivors end up within 10% of even, and every
 * client is connected again. (Long: part of `npm run test:faults`, not of CI; STORM_CLIENTS
 * overrides the count.)
 */
import { expect, it } from 'vitest';
import type { ChatClient } from '../../src/client/index.js';
import { eventually, startCluster } from '../helpers/cluster.js';

const CLIENTS = Number(process.env.STORM_CLIENTS ?? 2000);

it(`${CLIENTS} clients reconnect at once after a chat server dies: spread evenly over the survivors`, async () => {
  const cluster = await startCluster({ chatServers: 3, writers: 1 });
  const [victim, ...survivors] = cluster.edges;
  const clients: ChatClient[] = [];
  // Connect in waves so the initial placement is not itself the storm under test.
  for (let i = 0; i < CLIENTS; i += 200) {
    const wave = Array.from({ length: Math.min(200, CLIENTS - i) }, () =>
      cluster.client(cluster.user('storm'), {
        connectTimeoutMs: 60_000,
        reconnect: { initialDelayMs: 200, maxDelayMs: 3000 },
      }),
    );
    clients.push(...wave);
    await Promise.all(wave.map((c) => c.connect()));
  }
  const count = (id: string) =>
    clients.filter((c) => c.state === 'connected' && c.welcome?.serverId === id).length;
  const onVictim = count(victim!.id);
  expect(onVictim).toBeGreaterThan(CLIENTS / 6);

  victim!.kill('SIGKILL');
  const killedAt = Date.now();
  await eventually(
    () => survivors.reduce((n, s) => n + count(s.id), 0) === CLIENTS,
    60_000,
    () => ({
      connected: survivors.map((s) => count(s.id)),
      states: clients.filter((c) => c.state !== 'connected').length,
    }),
    250,
  );
  const tookMs = Date.now() - killedAt;
  const even = CLIENTS / survivors.length;
  const spread = survivors.map((s) => count(s.id));
  for (const n of spread) expect(Math.abs(n - even), `spread ${spread}`).toBeLessThanOrEqual(even * 0.1);
  // The servers agree with the clients (no leaked or missing sessions).
  for (const s of survivors) {
    await eventually(async () => (await s.metric('chat_edge_connections')) === count(s.id), 10_000);
  }
  console.log(
    `[reconnect-storm] ${onVictim} clients moved in ${tookMs} ms; survivors hold ${spread.join(' / ')}`,
  );
  for (const c of clients) c.close();
}, 180_000);
