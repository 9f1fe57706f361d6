/**
 * A load generator process (forked by run-generators.ts; never the process of a server under
 * test). Protocol over the IPC channel: parent -> {type:'run', transport, load}; child ->
 * 'connected'; parent -> 'start'; child -> 'measuring', 'measured', {type:'result', result}.
 */
import { framesConnector } from './frames-transport.js';
import { type LoadOptions, runLoad } from './load.js';
import { socketIoConnector } from './socketio-transport.js';
import type { TransportSpec } from './transport.js';

/** Messages from the parent. */
export type ToGenerator = { type: 'run'; transport: TransportSpec; load: LoadOptions } | { type: 'start' };

const send = (message: unknown) => process.send?.(message);

// The parent is gone (e.g. the runner was interrupted): leave with it.
process.on('disconnect', () => process.exit(0));

process.on('message', (message: ToGenerator) => {
  if (message.type !== 'run') return;
  const connect =
    message.transport.kind === 'frames'
      ? framesConnector(message.transport)
      : socketIoConnector(message.transport);
  runLoad(connect, message.load, {
    connected: () =>
      new Promise<void>((resolve) => {
        process.on('message', (m: ToGenerator) => {
          if (m.type === 'start') resolve();
        });
        send({ type: 'connected' });
      }),
    measuring: () => send({ type: 'measuring' }),
    measured: () => send({ type: 'measured' }),
  })
    .then((result) => {
      send({ type: 'result', result });
      process.disconnect?.();
      // Sockets are terminated; give the IPC message a moment, then leave.
      setTimeout(() => process.exit(0), 200).unref();
    })
    .catch((err: unknown) => {
      send({ type: 'failed', error: (err as Error).stack ?? String(err) });
      setTimeout(() => process.exit(1), 200).unref();
    });
});
