/** The shared TCP fault proxy: forwards bytes, cut() kills and refuses connections, restore() heals. */
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startTcpProxy } from '../../helpers/tcp-proxy.js';

async function echoServer(): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  onTestFinished(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return (server.address() as { port: number }).port;
}

/** Connects, sends text, resolves with what came back or the way the connection ended. */
function roundTrip(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    socket.on('data', (d) => {
      received += String(d);
      if (received === text) {
        socket.end();
        resolve(received);
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(`error ${err.code}`));
    socket.on('close', () => resolve(received === text ? received : `closed after "${received}"`));
    socket.write(text);
  });
}

describe('tcp proxy', () => {
  it('forwards, resets open and new connections while cut, and forwards again after restore', async () => {
    const proxy = await startTcpProxy({ targetPort: await echoServer() });
    expect(await roundTrip(proxy.port, 'hello')).toBe('hello');

    const open = connect(proxy.port, '127.0.0.1');
    open.on('error', () => {});
    await once(open, 'connect');
    await new Promise((r) => setTimeout(r, 50));
    const closed = new Promise((resolve) => open.once('close', resolve));
    proxy.cut();
    await closed;
    expect(proxy.isCut).toBe(true);
    expect(await roundTrip(proxy.port, 'while cut')).toMatch(/^error ECONNRESET|^closed after ""/);

    proxy.restore();
    expect(await roundTrip(proxy.port, 'back')).toBe('back');
    expect(proxy.accepted).toBe(3);
    await proxy.close();
  });
});
