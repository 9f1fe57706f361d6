/** What a browser on another origin needs: preflights answered, status headers exposed. */
import { describe, expect, it } from 'vitest';
import { register, startDiscovery, testBasePath, testZk } from './helpers.js';

const PATH = '/chat.v1.DiscoveryService/GetChatServer';

describe('CORS', () => {
  it('answers preflights and marks responses for allowed origins only', async () => {
    const basePath = testBasePath();
    await register(await testZk(), basePath, 'web', 0);
    const discovery = await startDiscovery({ basePath, corsOrigins: ['http://app.test:8080'] });

    const preflight = (origin: string) =>
      fetch(`${discovery.url}${PATH}`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type,connect-protocol-version,x-grpc-web',
        },
      });
    const ok = await preflight('http://app.test:8080');
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe('http://app.test:8080');
    expect(ok.headers.get('access-control-allow-methods')).toContain('POST');
    const allowed = ok.headers.get('access-control-allow-headers')!.toLowerCase();
    for (const h of ['content-type', 'connect-protocol-version', 'x-grpc-web']) expect(allowed).toContain(h);

    const refused = await preflight('http://evil.test');
    expect(refused.status).toBe(403);
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();

    // The actual call, as connect-web sends it from a browser (Connect JSON over HTTP/1.1).
    const call = await fetch(`${discovery.url}${PATH}`, {
      method: 'POST',
      headers: {
        origin: 'http://app.test:8080',
        'content-type': 'application/json',
        'connect-protocol-version': '1',
      },
      body: JSON.stringify({ user_id: 'alice' }),
    });
    expect(call.status).toBe(200);
    expect(call.headers.get('access-control-allow-origin')).toBe('http://app.test:8080');
    expect(call.headers.get('access-control-expose-headers')).toMatch(/Grpc-Status/i);
    expect(await call.json()).toEqual({ server: { id: 'web', wsUrl: 'ws://127.0.0.1:1/web' } });
  });

  it('allows any origin by default', async () => {
    const discovery = await startDiscovery({ basePath: testBasePath() });
    const res = await fetch(`${discovery.url}${PATH}`, {
      method: 'OPTIONS',
      headers: { origin: 'http://anywhere.test', 'access-control-request-method': 'POST' },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
  });
});
