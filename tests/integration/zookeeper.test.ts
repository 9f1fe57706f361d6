/** Ephemeral nodes and watches against the real ZooKeeper, including a real session expiry. */
import { describe, expect, it, onTestFinished } from 'vitest';
import { ZkClient } from '../../src/shared/zookeeper.js';
import { infra, unique } from '../helpers/infra.js';
import { spawnTs } from '../helpers/processes.js';

async function client(sessionTimeoutMs = 6000): Promise<ZkClient> {
  const zk = new ZkClient({ connect: infra().zookeeperConnect, sessionTimeoutMs });
  await zk.start();
  onTestFinished(() => zk.close());
  return zk;
}

function nextChange(zk: ZkClient, path: string): { children: Promise<string[]>; armed: Promise<string[]> } {
  let fire!: () => void;
  const changed = new Promise<void>((r) => {
    fire = r;
  });
  const armed = zk.getChildren(path, () => fire());
  return { armed, children: changed.then(() => zk.getChildren(path)) };
}

describe('ZooKeeper', () => {
  it('creates an ephemeral node, a watcher sees it, and it vanishes when its session closes', async () => {
    const base = `/test/${unique('zk')}`;
    const owner = await client();
    const watcher = await client();
    await watcher.mkdirp(base);

    const created = nextChange(watcher, base);
    expect(await created.armed).toEqual([]);
    await owner.create(`${base}/node`, new TextEncoder().encode('hello'), { ephemeral: true });
    expect(await created.children).toEqual(['node']);
    expect(new TextDecoder().decode(await watcher.getData(`${base}/node`))).toBe('hello');

    const deleted = nextChange(watcher, base);
    await deleted.armed;
    await owner.close();
    expect(await deleted.children).toEqual([]);
  });

  it('deletes the ephemeral node of a killed process after its session times out', async () => {
    const base = `/test/${unique('zk')}`;
    const watcher = await client();
    await watcher.mkdirp(base);
    const holder = spawnTs('tests/helpers/zk-ephemeral-holder.ts', [
      infra().zookeeperConnect,
      '2000',
      `${base}/victim`,
    ]);
    await holder.waitFor('ready');
    expect(await watcher.getChildren(base)).toEqual(['victim']);

    const gone = nextChange(watcher, base);
    await gone.armed;
    const killedAt = Date.now();
    holder.kill('SIGKILL');
    expect(await gone.children).toEqual([]);
    const elapsed = Date.now() - killedAt;
    // No close reached the server: the node lived until the session timed out.
    expect(elapsed).toBeGreaterThan(1000);
  });
});
