/** Idle HTTP/2 connections are closed gracefully; connections with an open stream are not. */
import http2 from 'node:http2';
import { describe, expect, it } from 'vitest';
import { startDiscovery, testBasePath } from './helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('HTTP/2 idle timeout', () => {
  it('sends GOAWAY to a connection idle for http2IdleTimeoutMs, but not while a stream is open', async () => {
    const discovery = await startDiscovery({ basePath: testBasePath(), http2IdleTimeoutMs: 300 });

    const idle = http2.connect(discovery.url);
    const idleEvents: string[] = [];
    idle.on('goaway', () => idleEvents.push('goaway'));
    idle.on('close', () => idleEvents.push('close'));
    idle.on('error', () => {});

    const busy = http2.connect(discovery.url);
    const busyEvents: string[] = [];
    busy.on('goaway', () => busyEvents.push('goaway'));
    busy.on('close', () => busyEvents.push('close'));
    busy.on('error', () => {});
    // A request whose body never ends keeps its stream open on the server.
    const stream = busy.request({ ':method': 'POST', ':path': '/grpc.health.v1.Health/Watch' });
    stream.on('error', () => {});
    stream.resume();

    await sleep(1500);
    // GOAWAY (Node may send a second, final one) and then the connection closes.
    expect(idleEvents[0]).toBe('goaway');
    expect(idleEvents.at(-1)).toBe('close');
    expect(busyEvents).toEqual([]);
    stream.close();
    busy.close();
  });
});
