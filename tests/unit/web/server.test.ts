/** The page server: the page and its script are served; the dev token endpoint exists only in dev mode. */
import { describe, expect, it, onTestFinished } from 'vitest';
import { verifyToken } from '../../../src/shared/auth.js';
import { startWebServer } from '../../../src/web/server.js';

const secret = 'a-test-secret-that-is-at-least-32-bytes-long';

async function start(devMode: boolean) {
  const server = await startWebServer({
    port: 0,
    discoveryUrl: 'http://127.0.0.1:1',
    devMode,
    authSecret: secret,
  });
  onTestFinished(() => server.close());
  return server;
}

describe('web server', () => {
  it('serves the page, its bundled script and config', async () => {
    const { url } = await start(false);
    expect(await (await fetch(`${url}/`)).text()).toContain('<script type="module" src="/app.js">');
    const js = await fetch(`${url}/app.js`);
    expect(js.headers.get('content-type')).toContain('text/javascript');
    expect((await js.text()).length).toBeGreaterThan(1000);
    expect(await (await fetch(`${url}/config.json`)).json()).toEqual({
      discoveryUrl: 'http://127.0.0.1:1',
      devMode: false,
    });
  });

  it('mints verifiable tokens in dev mode', async () => {
    const { url } = await start(true);
    const res = await fetch(`${url}/dev/token`, { method: 'POST', body: JSON.stringify({ user: 'alice' }) });
    expect(res.status).toBe(200);
    const { token } = (await res.json()) as { token: string };
    expect(await verifyToken(token, { secret })).toBe('alice');
  });

  it('refuses bad user names with a clear 400', async () => {
    const { url } = await start(true);
    const res = await fetch(`${url}/dev/token`, { method: 'POST', body: JSON.stringify({ user: '' }) });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: 'user id is empty' });
    const bad = await fetch(`${url}/dev/token`, { method: 'POST', body: 'not json' });
    expect(bad.status).toBe(400);
  });

  it('has no token endpoint outside dev mode', async () => {
    const { url } = await start(false);
    const res = await fetch(`${url}/dev/token`, { method: 'POST', body: JSON.stringify({ user: 'alice' }) });
    expect(res.status).toBe(404);
  });
});
