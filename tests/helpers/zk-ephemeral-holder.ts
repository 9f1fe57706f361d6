/**
 * A separate process that holds one ephemeral node, for tests that kill it (SIGKILL: the
 * session times out) or pause it (SIGSTOP: the session expires while the process lives).
 * Usage: tsx zk-ephemeral-holder.ts <connect> <sessionTimeoutMs> <path>
 */
import { ZkClient } from '../../src/shared/zookeeper.js';

const [connect, timeout, path] = process.argv.slice(2);
const zk = new ZkClient({ connect: connect!, sessionTimeoutMs: Number(timeout) });
await zk.start();
await zk.create(path!, new Uint8Array([1]), { ephemeral: true });
console.log('ready');
setInterval(() => {}, 1000);
