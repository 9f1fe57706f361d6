/**
 * `chat`: the command line for the chat system.
 *
 *   chat token <user>                       mint a token (CHAT_AUTH_SECRET, or the dev secret in dev mode)
 *   chat send --as <user> --to <user> <text> send one message; prints the message id
 *   chat listen --as <user> [--since <iso>] print messages as they come, catch-up first
 *   chat servers                            live chat servers with connection counts
 *   chat presence <user...>                 who is online, last seen, last read
 *
 * Global flags: --json (machine-readable output), --discovery <url> (env CHAT_DISCOVERY_URL,
 * default http://127.0.0.1:50051), --token <jwt> (env CHAT_TOKEN; else minted locally).
 * Exit codes: 0 ok, 1 failure (unreachable, unavailable), 2 usage error, 3 message refused.
 */
import { parseArgs } from 'node:util';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { DiscoveryService } from '../../gen/chat/v1/discovery_pb.js';
import type { ChatMessage } from '../../gen/chat/v1/message_pb.js';
import { PresenceService } from '../../gen/chat/v1/presence_pb.js';
import { ChatClient } from '../client/chat-client.js';
import { ChatClientError } from '../client/errors.js';
import { createNodeChatClient } from '../client/node.js';
import { authSecretFromEnv, signToken } from '../shared/auth.js';
import { envBool } from '../shared/config.js';

const USAGE = `usage:
  chat token <user>
  chat send --as <user> --to <user> <text>
  chat listen --as <user> [--since <iso-time>]
  chat servers
  chat presence <user...>
flags: --json  --discovery <url>  --token <jwt>`;

/** Exit codes that mean something to scripts. */
export const EXIT = { ok: 0, failure: 1, usage: 2, refused: 3 } as const;

class UsageError extends Error {}

const { values, positionals } = (() => {
  try {
    return parseArgs({
      allowPositionals: true,
      options: {
        as: { type: 'string' },
        to: { type: 'string' },
        since: { type: 'string' },
        json: { type: 'boolean', default: false },
        discovery: { type: 'string' },
        token: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    console.error(`chat: ${(err as Error).message}\n${USAGE}`);
    process.exit(EXIT.usage);
  }
})();

const discoveryUrl = values.discovery ?? process.env.CHAT_DISCOVERY_URL ?? 'http://127.0.0.1:50051';
const json = values.json;

function print(human: string, data: unknown): void {
  console.log(json ? JSON.stringify(data) : human);
}

function iso(ts: Parameters<typeof timestampDate>[0] | undefined): string | null {
  return ts ? timestampDate(ts).toISOString() : null;
}

function messageJson(m: ChatMessage) {
  return {
    message_id: m.messageId,
    client_message_id: m.clientMessageId,
    sender_id: m.senderId,
    recipient_id: m.recipientId,
    body: m.body,
    sent_at: iso(m.sentAt),
  };
}

async function tokenFor(user: string): Promise<string> {
  if (values.token ?? process.env.CHAT_TOKEN) return (values.token ?? process.env.CHAT_TOKEN) as string;
  const devMode = envBool(process.env, 'CHAT_DEV_MODE', true);
  return signToken(user, { secret: authSecretFromEnv(process.env, devMode) });
}

function required(value: string | undefined, flag: string): string {
  if (!value) throw new UsageError(`${flag} is required`);
  return value;
}

async function withClient<T>(user: string, fn: (client: ChatClient) => Promise<T>): Promise<T> {
  const client = createNodeChatClient({
    discoveryUrl,
    userId: user,
    token: () => tokenFor(user),
    connectTimeoutMs: 10000,
  });
  try {
    await client.connect();
    return await fn(client);
  } finally {
    client.close();
  }
}

async function run(): Promise<number> {
  const [command, ...args] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return command ? EXIT.ok : EXIT.usage;
  }
  switch (command) {
    case 'token': {
      const user = required(args[0], '<user>');
      const token = await tokenFor(user);
      print(token, { user_id: user, token });
      return EXIT.ok;
    }
    case 'send': {
      const from = required(values.as, '--as');
      const to = required(values.to, '--to');
      const text = args.join(' ');
      if (!text) throw new UsageError('<text> is required');
      const ack = await withClient(from, (c) => c.send(to, text));
      print(`sent ${ack.messageId} at ${iso(ack.sentAt)}`, {
        message_id: ack.messageId,
        client_message_id: ack.clientMessageId,
        sent_at: iso(ack.sentAt),
      });
      return EXIT.ok;
    }
    case 'listen': {
      const user = required(values.as, '--as');
      const since = values.since ? Date.parse(values.since) : undefined;
      if (since !== undefined && Number.isNaN(since)) throw new UsageError('--since must be an ISO time');
      const client = createNodeChatClient({
        discoveryUrl,
        userId: user,
        token: () => tokenFor(user),
        lastReadTimestamp: since,
      });
      const stop = () => client.close();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      client.on('catchUpDone', (d) => {
        if (!json) console.error(`-- caught up (${d.delivered} stored messages); live from here --`);
      });
      client.on('state', (s) => {
        if (!json && s === 'reconnecting') console.error('-- reconnecting --');
      });
      await client.connect();
      for await (const m of client.messages()) {
        print(`${iso(m.sentAt)}  ${m.senderId} -> ${m.recipientId}: ${m.body}`, messageJson(m));
      }
      return EXIT.ok;
    }
    case 'servers': {
      const client = createClient(DiscoveryService, ChatClient.transportFor(discoveryUrl));
      const { servers } = await client.listChatServers({});
      if (json)
        print(
          '',
          servers.map((s) => ({
            id: s.id,
            ws_url: s.wsUrl,
            connections: s.connections,
            draining: s.draining,
          })),
        );
      else if (servers.length === 0) console.log('no chat servers are registered');
      else
        for (const s of servers)
          console.log(`${s.id}  ${s.wsUrl}  ${s.connections} connections${s.draining ? '  (draining)' : ''}`);
      return EXIT.ok;
    }
    case 'presence': {
      if (args.length === 0) throw new UsageError('at least one <user> is required');
      const client = createClient(PresenceService, ChatClient.transportFor(discoveryUrl));
      const { presences } = await client.getPresence({ userIds: args });
      const rows = presences.map((p) => ({
        user_id: p.userId,
        online: p.online,
        last_seen_at: iso(p.lastSeenAt),
        last_read_timestamp: iso(p.lastReadTimestamp),
      }));
      if (json) print('', rows);
      else
        for (const r of rows)
          console.log(
            `${r.user_id}  ${r.online ? 'online' : 'offline'}  last seen ${r.last_seen_at ?? 'never'}  read up to ${r.last_read_timestamp ?? 'nothing'}`,
          );
      return EXIT.ok;
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

try {
  process.exitCode = await run();
} catch (err) {
  if (err instanceof UsageError) {
    console.error(`chat: ${err.message}\n${USAGE}`);
    process.exitCode = EXIT.usage;
  } else if (err instanceof ChatClientError && err.clientMessageId) {
    console.error(`chat: message refused: ${err.code}: ${err.message}`);
    process.exitCode = EXIT.refused;
  } else if (err instanceof ConnectError) {
    const reason =
      err.code === Code.Unknown || err.code === Code.Unavailable
        ? `cannot reach discovery at ${discoveryUrl}: `
        : '';
    console.error(`chat: ${reason}${err.rawMessage}`);
    process.exitCode = EXIT.failure;
  } else {
    const code = err instanceof ChatClientError ? `${err.code}: ` : '';
    console.error(`chat: ${code}${(err as Error).message}`);
    process.exitCode = EXIT.failure;
  }
}
