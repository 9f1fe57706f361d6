/**
 * Serves the browser chat page (bundled from app.ts with esbuild at start-up), its config, and in
 * dev mode only, POST /dev/token, which mints a token for any user name. Outside dev mode that
 * endpoint does not exist (404).
 */
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { signToken } from '../shared/auth.js';
import { ChatBackendError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';

const HERE = dirname(fileURLToPath(import.meta.url));

/** Options of {@link startWebServer}. */
export interface WebServerOptions {
  /** Listen address. Default 127.0.0.1. */
  host?: string;
  /** Listen port; 0 picks a free one. Default 8080. */
  port?: number;
  /** The discovery URL the page calls (Connect protocol, CORS). */
  discoveryUrl: string;
  /** Serve POST /dev/token. Default false. */
  devMode?: boolean;
  /** Secret for dev tokens (required when devMode). */
  authSecret?: string;
  logger?: Logger;
}

/** A running web server. */
export interface WebServer {
  url: string;
  close(): Promise<void>;
}

/** Bundles the page script for browsers. */
export async function bundlePage(): Promise<string> {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [join(HERE, 'app.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    write: false,
    logLevel: 'silent',
  });
  return result.outputFiles[0]!.text;
}

const MAX_TOKEN_REQUEST_BYTES = 4096;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_TOKEN_REQUEST_BYTES) {
        reject(new ChatBackendError('CHAT_ERR_TOO_LARGE', 'request body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

/** Starts the page server. */
export async function startWebServer(options: WebServerOptions): Promise<WebServer> {
  if (options.devMode && !options.authSecret)
    throw new TypeError('startWebServer: authSecret is required in dev mode');
  const [html, css, js] = await Promise.all([
    readFile(join(HERE, 'index.html'), 'utf8'),
    readFile(join(HERE, 'app.css'), 'utf8'),
    bundlePage(),
  ]);
  const config = JSON.stringify({ discoveryUrl: options.discoveryUrl, devMode: Boolean(options.devMode) });
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && (path === '/' || path === '/index.html')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
    } else if (req.method === 'GET' && path === '/app.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(js);
    } else if (req.method === 'GET' && path === '/app.css') {
      res.writeHead(200, { 'content-type': 'text/css; charset=utf-8' }).end(css);
    } else if (req.method === 'GET' && path === '/config.json') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(config);
    } else if (options.devMode && req.method === 'POST' && path === '/dev/token') {
      readBody(req)
        .then(async (text) => {
          let user: unknown;
          try {
            user = (JSON.parse(text) as { user?: unknown }).user;
          } catch {
            return sendJson(res, 400, { error: 'body must be JSON: {"user": "<name>"}' });
          }
          if (typeof user !== 'string') return sendJson(res, 400, { error: 'user must be a string' });
          const token = await signToken(user, { secret: options.authSecret! });
          sendJson(res, 200, { user, token });
        })
        .catch((err: unknown) => {
          if (
            ChatBackendError.is(err, 'CHAT_ERR_INVALID_ARGUMENT') ||
            ChatBackendError.is(err, 'CHAT_ERR_TOO_LARGE')
          ) {
            sendJson(res, 400, { error: err.message });
          } else {
            options.logger?.error({ err }, 'dev token failed');
            sendJson(res, 500, { error: 'internal error' });
          }
        });
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8080, options.host ?? '127.0.0.1', resolve);
  });
  const { address, port } = server.address() as AddressInfo;
  return {
    url: `http://${address}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
