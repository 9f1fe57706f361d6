/**
 * The chat.v1 RPC implementations of the discovery process: DiscoveryService answers from the
 * in-memory server view, PresenceService from the presence view. Neither touches ZooKeeper or
 * Kafka on the request path.
 */
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, type Interceptor, type ServiceImpl } from '@connectrpc/connect';
import {
  type DiscoveryService,
  GetChatServerResponseSchema,
  ListChatServersResponseSchema,
} from '../../gen/chat/v1/discovery_pb.js';
import { GetPresenceResponseSchema, type PresenceService } from '../../gen/chat/v1/presence_pb.js';
import { ChatBackendError, toWire } from '../shared/errors.js';
import { checkUserId } from '../shared/limits.js';
import type { RandomFn, ServerTable } from './picker.js';
import type { PresenceView } from './presence-view.js';

/** Most user ids one GetPresence may ask about. */
export const MAX_PRESENCE_IDS = 1000;

/** The message clients see when no chat server can be handed out. */
export const NO_SERVER_MESSAGE = 'no chat server is available';

/** DiscoveryService over a server table. */
export function discoveryService(
  table: ServerTable,
  random: RandomFn = Math.random,
): ServiceImpl<typeof DiscoveryService> {
  return {
    getChatServer(request) {
      checkUserId(request.userId, 'user_id');
      const server = table.pick(random);
      if (!server) throw new ConnectError(NO_SERVER_MESSAGE, Code.Unavailable);
      return create(GetChatServerResponseSchema, { server });
    },
    listChatServers() {
      return create(ListChatServersResponseSchema, { servers: table.servers() });
    },
  };
}

/** PresenceService over a presence view; `isLive` tells which chat servers are registered. */
export function presenceService(
  presence: PresenceView | undefined,
  isLive: (serverId: string) => boolean,
): ServiceImpl<typeof PresenceService> {
  return {
    getPresence(request) {
      const ids = request.userIds;
      if (ids.length > MAX_PRESENCE_IDS) {
        throw new ChatBackendError(
          'CHAT_ERR_INVALID_ARGUMENT',
          `user_ids: at most ${MAX_PRESENCE_IDS} ids, got ${ids.length}`,
        );
      }
      for (const [i, id] of ids.entries()) checkUserId(id, `user_ids[${i}]`);
      if (!presence) throw new ConnectError('presence is not configured on this server', Code.Unavailable);
      if (!presence.ready) throw new ConnectError('presence is not loaded yet', Code.Unavailable);
      return create(GetPresenceResponseSchema, {
        presences: ids.map((id) => presence.table.get(id, isLive)),
      });
    },
  };
}

/**
 * Turns a ChatBackendError thrown by a handler into the ConnectError of its code (one table:
 * src/shared/errors.ts); the client sees the safe message, the cause stays on the server.
 */
export const chatErrorInterceptor: Interceptor = (next) => async (request) => {
  try {
    return await next(request);
  } catch (err) {
    if (ChatBackendError.is(err))
      throw new ConnectError(err.message, toWire(err.code).rpc, undefined, undefined, err);
    throw err;
  }
};
