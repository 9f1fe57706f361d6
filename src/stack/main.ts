/**
 * `npm start`: the whole system on loopback. Starts ZooKeeper, Kafka and PostgreSQL when they are
 * missing, creates the topics, then a discovery service, chat servers and writers (counts from
 * the environment), and the browser page. Prints every endpoint, streams every process's logs
 * with its name, and on Ctrl-C stops everything it started (chat servers drain first).
 *
 * Environment (defaults in brackets): STACK_CHAT_SERVERS [2], STACK_WRITERS [1],
 * DISCOVERY_PORT [50051], EDGE_BASE_PORT [8081: chat servers on 8081, 8082, ...], WEB_PORT [8080],
 * CHAT_DEV_MODE [true], CHAT_AUTH_SECRET [dev secret in dev mode; required otherwise],
 * plus ZOOKEEPER_CONNECT, KAFKA_BROKERS, DATABASE_URL (see README).
 */
import { ensureInfra } from '../infra/infra.js';
import { authSecretFromEnv } from '../shared/auth.js';
import { envBool, envInt, envPort } from '../shared/config.js';
import { createKafka } from '../shared/kafka.js';
import { DEFAULT_TOPICS, ensureTopics } from '../shared/topics.js';
import { startWebServer } from '../web/server.js';
import { type Service, startService, stopServices } from './supervisor.js';

const HOST = '127.0.0.1';

async function main(): Promise<void> {
  const env = process.env;
  const chatServers = envInt(env, 'STACK_CHAT_SERVERS', 2, 1, 32);
  const writers = envInt(env, 'STACK_WRITERS', 1, 1, 32);
  const discoveryPort = envPort(env, 'DISCOVERY_PORT', 50051);
  const edgeBasePort = envPort(env, 'EDGE_BASE_PORT', 8081);
  const webPort = envPort(env, 'WEB_PORT', 8080);
  const devMode = envBool(env, 'CHAT_DEV_MODE', true);
  const authSecret = authSecretFromEnv(env, devMode);
  if (devMode && !env.CHAT_AUTH_SECRET)
    console.log('[stack] dev mode: using the public dev secret for tokens');

  const infra = await ensureInfra({ log: (line) => console.log(`[infra]      ${line}`) });
  const services: Service[] = [];
  let web: Awaited<ReturnType<typeof startWebServer>> | undefined;
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    console.log('[stack]      stopping: chat servers drain, then writers, discovery, infrastructure');
    await stopServices(services.filter((s) => s.name.startsWith('edge')));
    await stopServices(services);
    await web?.close();
    await infra.stop();
    console.log('[stack]      stopped');
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));

  try {
    const admin = createKafka({ brokers: infra.kafkaBrokers, clientId: 'chat-stack' }).admin();
    await admin.connect();
    await ensureTopics(admin, DEFAULT_TOPICS);
    await admin.disconnect();

    const common = {
      ZOOKEEPER_CONNECT: infra.zookeeperConnect,
      KAFKA_BROKERS: infra.kafkaBrokers.join(','),
      DATABASE_URL: infra.databaseUrl,
      CHAT_AUTH_SECRET: authSecret,
    };
    const discoveryUrl = `http://${HOST}:${discoveryPort}`;
    services.push(
      startService({
        name: 'discovery',
        entry: 'src/discovery/main.ts',
        env: { ...common, DISCOVERY_HOST: HOST, DISCOVERY_PORT: String(discoveryPort) },
        readyPattern: /discovery ready/,
      }),
    );
    for (let i = 1; i <= writers; i++) {
      services.push(
        startService({
          name: `writer-${i}`,
          entry: 'src/writer/main.ts',
          env: { ...common, WRITER_OPS_PORT: String(9400 + i) },
          readyPattern: /writer ready/,
        }),
      );
    }
    for (let i = 1; i <= chatServers; i++) {
      services.push(
        startService({
          name: `edge-${i}`,
          entry: 'src/edge/main.ts',
          env: { ...common, EDGE_ID: `edge-${i}`, EDGE_HOST: HOST, EDGE_PORT: String(edgeBasePort + i - 1) },
          readyPattern: /edge ready/,
        }),
      );
    }
    await Promise.all(services.map((s) => s.ready));
    web = await startWebServer({ host: HOST, port: webPort, discoveryUrl, devMode, authSecret });

    console.log(
      [
        '',
        'chat is running:',
        `  browser page     ${web.url}${devMode ? '  (dev mode: sign in with any name)' : ''}`,
        `  discovery        ${discoveryUrl}  (gRPC, Connect, gRPC-Web; reflection + health)`,
        ...Array.from(
          { length: chatServers },
          (_, i) => `  chat server ${i + 1}    ws://${HOST}:${edgeBasePort + i}/ws  (/healthz, /metrics)`,
        ),
        ...Array.from(
          { length: writers },
          (_, i) => `  writer ${i + 1}         http://${HOST}:${9401 + i}  (/healthz, /metrics)`,
        ),
        `  zookeeper        ${infra.zookeeperConnect}`,
        `  kafka            ${infra.kafkaBrokers.join(',')}`,
        `  postgres         ${infra.databaseUrl.replace(/:[^:@/]+@/, ':***@')}`,
        '',
        'try:  npx chat send --as alice --to bob "hello"   |   npx chat listen --as bob',
        'Ctrl-C stops everything.',
        '',
      ].join('\n'),
    );
  } catch (err) {
    console.error(`[stack]      ${(err as Error).message}`);
    await stop(1);
  }
}

await main();
