/**
 * The operations endpoints every service exposes: GET /healthz (200 when ready, 503 with the
 * failing checks otherwise) and GET /metrics (Prometheus text format). Services with their own
 * HTTP server mount {@link handleOps}; others start {@link startOpsServer}.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** Named readiness checks: each returns true when that dependency is up. */
export type HealthChecks = Record<string, () => boolean>;

/** Answers /healthz and /metrics; returns false for any other path so the caller can route it. */
export function handleOps(
  req: IncomingMessage,
  res: ServerResponse,
  registry: Registry,
  checks: HealthChecks,
): boolean {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  if (path === '/healthz') {
    const status = Object.fromEntries(Object.entries(checks).map(([name, check]) => [name, check()]));
    const ok = Object.values(status).every(Boolean);
    res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: ok ? 'ok' : 'unavailable', checks: status }));
    return true;
  }
  if (path === '/metrics') {
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(text);
      },
      () => {
        res.writeHead(500).end();
      },
    );
    return true;
  }
  return false;
}

/** A small HTTP server with only the operations endpoints. */
export async function startOpsServer(options: {
  host: string;
  port: number;
  registry: Registry;
  checks: HealthChecks;
}): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    if (!handleOps(req, res, options.registry, options.checks)) res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, resolve);
  });
  const { address, port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://${address}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
