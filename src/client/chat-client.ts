/**
 * ChatClient: the TypeScript SDK for Node and browsers. It asks discovery for a chat server,
 * opens a WebSocket with a token, heartbeats at the server's interval (carrying the read cursor
 * the app advances with markRead), reconnects through discovery with backoff and jitter, resends
 * unacknowledged messages with the same client_message_id, and shows each message once.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { type Client, createClient, type Transport } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-web';
import { DiscoveryService } from '../../gen/chat/v1/discovery_pb.js';
import {
  type CatchUpDone,
  ClientFrameSchema,
  type SendAck,
  ServerFrameSchema,
  type Welcome,
} from '../../gen/chat/v1/frames_pb.js';
import type { ChatMessage } from '../../gen/chat/v1/message_pb.js';
import { DEFAULT_MAX_BODY_BYTES, utf8Length } from '../shared/limits.js';
import { type BackoffOptions, backoffDelay } from './backoff.js';
import { ChatClientError, errorCodeName, RETRYABLE_CODES } from './errors.js';
import { SeenSet } from './seen-set.js';
import { browserWebSocket, OPEN, type WebSocketFactory, type WebSocketLike } from './websocket.js';

/** Where the client is in its life. */
export type ChatClientState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'closed';

/** Options of {@link ChatClient}. */
export interface ChatClientOptions {
  /** Base URL of the discovery service, e.g. http://127.0.0.1:50051. Ignored when `discovery` is given. */
  discoveryUrl?: string;
  /** A discovery client to use instead of one built from discoveryUrl (Connect protocol). */
  discovery?: Client<typeof DiscoveryService>;
  /** The user this client acts for (sent to discovery; the server takes identity from the token). */
  userId: string;
  /** The access token, or a function that returns a fresh one (called before every connect). */
  token: string | (() => string | Promise<string>);
  /** Opens sockets. Default: the browser's global WebSocket with ?token=. In Node use `nodeWebSocket` from node.ts. */
  webSocket?: WebSocketFactory;
  /** Start of the read cursor: messages after it are caught up on connect. Default: the server's stored cursor. */
  lastReadTimestamp?: Date | number;
  /** Reconnect backoff (full jitter). Defaults: 200 ms initial, 10 s max. */
  reconnect?: BackoffOptions & {
    /** Reconnect at all. Default true. */
    enabled?: boolean;
  };
  /** A send that has no SendAck after this long rejects with TIMEOUT. Default 30000 ms. */
  sendTimeoutMs?: number;
  /** How many delivered message keys to remember for de-duplication. Default 50000. */
  seenCapacity?: number;
  /** connect() rejects when the first connection takes longer (the client keeps trying). Default 15000 ms. */
  connectTimeoutMs?: number;
}

interface Pending {
  clientMessageId: string;
  recipientId: string;
  body: string;
  attempts: number;
  resolve(ack: SendAck): void;
  reject(err: ChatClientError): void;
  timer: ReturnType<typeof setTimeout>;
  retryTimer?: ReturnType<typeof setTimeout>;
}

type Events = {
  message: ChatMessage;
  state: ChatClientState;
  welcome: Welcome;
  catchUpDone: CatchUpDone;
  error: ChatClientError;
};

type Listener<T> = (value: T) => void;

/** Options of {@link ChatClient.send}. */
export interface SendOptions {
  /** The idempotency key; default a random UUID. Reuse it to resend the same message. */
  clientMessageId?: string;
}

function randomId(): string {
  return globalThis.crypto.randomUUID();
}

function toMs(value: Date | number | undefined): number {
  if (value === undefined) return 0;
  return typeof value === 'number' ? value : value.getTime();
}

/** A chat connection that survives server restarts, drains and network drops. */
export class ChatClient {
  readonly userId: string;
  readonly #options: ChatClientOptions;
  readonly #discovery: Client<typeof DiscoveryService>;
  readonly #openSocket: WebSocketFactory;
  readonly #seen: SeenSet;
  readonly #pending = new Map<string, Pending>();
  readonly #listeners: { [K in keyof Events]: Set<Listener<Events[K]>> } = {
    message: new Set(),
    state: new Set(),
    welcome: new Set(),
    catchUpDone: new Set(),
    error: new Set(),
  };
  #state: ChatClientState = 'idle';
  #ws: WebSocketLike | undefined;
  #welcome: Welcome | undefined;
  #attempt = 0;
  #lastReadMs: number;
  #lastFrameAt = 0;
  #heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #readTimer: ReturnType<typeof setTimeout> | undefined;
  #lastHeartbeatAt = 0;

  constructor(options: ChatClientOptions) {
    if (!options.discovery && !options.discoveryUrl)
      throw new TypeError('ChatClient: discoveryUrl or discovery is required');
    this.#options = options;
    this.userId = options.userId;
    this.#discovery =
      options.discovery ??
      createClient(DiscoveryService, ChatClient.transportFor(options.discoveryUrl as string));
    this.#openSocket = options.webSocket ?? browserWebSocket;
    this.#seen = new SeenSet(options.seenCapacity ?? 50000);
    this.#lastReadMs = toMs(options.lastReadTimestamp);
  }

  /** The Connect-protocol transport used to reach discovery (fetch-based: Node 18+ and browsers). */
  static transportFor(baseUrl: string): Transport {
    return createConnectTransport({ baseUrl, defaultTimeoutMs: 5000 });
  }

  /** The current state. */
  get state(): ChatClientState {
    return this.#state;
  }

  /** The Welcome of the current connection. */
  get welcome(): Welcome | undefined {
    return this.#welcome;
  }

  /** The read cursor sent with every heartbeat (ms since epoch; 0 = none yet). */
  get lastReadMs(): number {
    return this.#lastReadMs;
  }

  /** Sends that have no SendAck yet. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Subscribes to an event; returns the unsubscribe function. */
  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    this.#listeners[event].add(listener);
    return () => this.#listeners[event].delete(listener);
  }

  #emit<K extends keyof Events>(event: K, value: Events[K]): void {
    for (const listener of this.#listeners[event]) {
      try {
        listener(value);
      } catch {
        // A throwing listener must not break delivery to the others.
      }
    }
  }

  #setState(state: ChatClientState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#emit('state', state);
  }

  /** Connects (once); resolves with the first Welcome. */
  connect(): Promise<Welcome> {
    if (this.#state === 'closed') return Promise.reject(new ChatClientError('CLOSED', 'client is closed'));
    const welcomed = new Promise<Welcome>((resolve, reject) => {
      if (this.#welcome && this.#state === 'connected') return resolve(this.#welcome);
      const timeoutMs = this.#options.connectTimeoutMs ?? 15000;
      let lastError: ChatClientError | undefined;
      const offError = this.on('error', (e) => {
        lastError = e;
      });
      const timer = setTimeout(() => {
        done();
        reject(
          lastError ??
            new ChatClientError('CONNECT_FAILED', `could not connect within ${timeoutMs} ms`, {
              cause: lastError,
            }),
        );
      }, timeoutMs);
      const offWelcome = this.on('welcome', (w) => {
        done();
        resolve(w);
      });
      const offState = this.on('state', (s) => {
        if (s === 'closed') {
          done();
          reject(lastError ?? new ChatClientError('CLOSED', 'client closed while connecting'));
        }
      });
      const done = () => {
        clearTimeout(timer);
        offError();
        offWelcome();
        offState();
      };
    });
    if (this.#state === 'idle') {
      this.#setState('connecting');
      void this.#dial();
    }
    return welcomed;
  }

  async #dial(): Promise<void> {
    if (this.#state === 'closed') return;
    let wsUrl: string;
    try {
      const { server } = await this.#discovery.getChatServer({ userId: this.userId });
      if (!server?.wsUrl) throw new Error('discovery returned no server');
      wsUrl = server.wsUrl;
    } catch (err) {
      this.#emit(
        'error',
        new ChatClientError('DISCOVERY_FAILED', `discovery failed: ${(err as Error).message}`, {
          cause: err,
        }),
      );
      this.#scheduleReconnect();
      return;
    }
    let token: string;
    try {
      token = typeof this.#options.token === 'function' ? await this.#options.token() : this.#options.token;
    } catch (err) {
      this.#emit('error', new ChatClientError('UNAUTHENTICATED', 'could not get a token', { cause: err }));
      this.#scheduleReconnect();
      return;
    }
    if ((this.#state as ChatClientState) === 'closed') return;
    let ws: WebSocketLike;
    try {
      ws = this.#openSocket(wsUrl, token);
    } catch (err) {
      this.#emit('error', new ChatClientError('CONNECT_FAILED', `cannot open ${wsUrl}`, { cause: err }));
      this.#scheduleReconnect();
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.#ws = ws;
    ws.onmessage = (ev) => {
      if (this.#ws !== ws) return;
      this.#onFrame(ev.data);
    };
    ws.onerror = () => {};
    ws.onclose = (ev) => {
      if (this.#ws !== ws) return;
      this.#onSocketGone(ev.code, ev.reason);
    };
  }

  #onSocketGone(code: number, reason: string): void {
    this.#ws = undefined;
    this.#welcome = undefined;
    clearInterval(this.#heartbeatTimer);
    if (this.#state === 'closed') return;
    if (code !== 1000 && code !== 1012) {
      this.#emit(
        'error',
        new ChatClientError('CONNECT_FAILED', `connection closed (${code}${reason ? ` ${reason}` : ''})`),
      );
    }
    // A drain (1012) asks us to move at once; anything else backs off.
    this.#scheduleReconnect(code === 1012);
  }

  #scheduleReconnect(soon = false): void {
    if (this.#state === 'closed') return;
    if (this.#options.reconnect?.enabled === false) {
      this.close();
      return;
    }
    this.#setState(this.#attempt === 0 && this.#state === 'connecting' ? 'connecting' : 'reconnecting');
    const delay = soon
      ? backoffDelay(0, { initialDelayMs: 100 })
      : backoffDelay(this.#attempt, this.#options.reconnect);
    this.#attempt++;
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = setTimeout(() => void this.#dial(), delay);
  }

  #onFrame(data: unknown): void {
    this.#lastFrameAt = Date.now();
    let bytes: Uint8Array;
    if (data instanceof ArrayBuffer) bytes = new Uint8Array(data);
    else if (ArrayBuffer.isView(data)) bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    else return;
    let frame: ReturnType<typeof fromBinary<typeof ServerFrameSchema>>;
    try {
      frame = fromBinary(ServerFrameSchema, bytes);
    } catch {
      return;
    }
    const f = frame.frame;
    switch (f.case) {
      case 'welcome':
        this.#onWelcome(f.value);
        break;
      case 'message':
        this.#onMessage(f.value);
        break;
      case 'sendAck':
        this.#onAck(f.value);
        break;
      case 'error': {
        const e = f.value;
        const pending = e.clientMessageId ? this.#pending.get(e.clientMessageId) : undefined;
        if (pending) this.#onSendError(pending, e.code, e.message);
        else this.#emit('error', new ChatClientError(errorCodeName(e.code), e.message));
        break;
      }
      case 'catchUpDone':
        this.#emit('catchUpDone', f.value);
        break;
      default:
        break;
    }
  }

  #onWelcome(welcome: Welcome): void {
    this.#welcome = welcome;
    this.#attempt = 0;
    this.#setState('connected');
    // The first heartbeat tells the server where catch-up starts.
    this.#sendHeartbeat();
    const interval = Math.max(100, welcome.heartbeatIntervalMs || 10000);
    clearInterval(this.#heartbeatTimer);
    this.#heartbeatTimer = setInterval(() => {
      if (Date.now() - this.#lastFrameAt > 3 * interval) {
        // Half-open or dead: stop waiting for a close that may never come.
        const ws = this.#ws;
        this.#ws = undefined;
        try {
          ws?.close(4000, 'heartbeat timeout');
        } catch {}
        this.#onSocketGone(4000, 'no frames from server');
        return;
      }
      this.#sendHeartbeat();
    }, interval);
    for (const pending of this.#pending.values()) this.#transmit(pending);
    this.#emit('welcome', welcome);
  }

  #onMessage(message: ChatMessage): void {
    const byId = `id:${message.messageId}`;
    const byKey = `key:${message.senderId}\u0000${message.clientMessageId}`;
    const fresh = !this.#seen.has(byId) && !this.#seen.has(byKey);
    this.#seen.add(byId);
    this.#seen.add(byKey);
    if (fresh) this.#emit('message', message);
  }

  #onAck(ack: SendAck): void {
    const pending = this.#pending.get(ack.clientMessageId);
    // The sender's own message may come back through catch-up or another device's stream.
    this.#seen.add(`id:${ack.messageId}`);
    this.#seen.add(`key:${this.userId}\u0000${ack.clientMessageId}`);
    if (!pending) return;
    this.#settle(pending);
    pending.resolve(ack);
  }

  #onSendError(pending: Pending, code: number, message: string): void {
    if (RETRYABLE_CODES.has(code)) {
      pending.attempts++;
      clearTimeout(pending.retryTimer);
      pending.retryTimer = setTimeout(
        () => this.#transmit(pending),
        backoffDelay(pending.attempts, { initialDelayMs: 100, maxDelayMs: 5000 }),
      );
      return;
    }
    this.#settle(pending);
    pending.reject(
      new ChatClientError(errorCodeName(code), message, { clientMessageId: pending.clientMessageId }),
    );
  }

  #settle(pending: Pending): void {
    clearTimeout(pending.timer);
    clearTimeout(pending.retryTimer);
    this.#pending.delete(pending.clientMessageId);
  }

  /**
   * Sends a message; resolves with the SendAck once the server has durably accepted it. Rejects
   * with a ChatClientError: the server's code (TOO_LARGE, INVALID_ARGUMENT, ...) for a refused
   * message, TIMEOUT after sendTimeoutMs, CLOSED when the client is closed. Transient failures
   * (UNAVAILABLE, RATE_LIMITED, a dropped connection) are retried with the same client_message_id.
   */
  send(recipientId: string, body: string, options: SendOptions = {}): Promise<SendAck> {
    if (this.#state === 'closed') return Promise.reject(new ChatClientError('CLOSED', 'client is closed'));
    const clientMessageId = options.clientMessageId ?? randomId();
    // Refuse locally what the server would refuse: a frame over its limit closes the socket
    // (1009), and resending it after the reconnect would loop.
    const maxBody = this.#welcome?.maxBodyBytes || DEFAULT_MAX_BODY_BYTES;
    const bodyBytes = utf8Length(body);
    if (bodyBytes > maxBody) {
      return Promise.reject(
        new ChatClientError('TOO_LARGE', `body is ${bodyBytes} bytes; the limit is ${maxBody}`, {
          clientMessageId,
        }),
      );
    }
    const existing = this.#pending.get(clientMessageId);
    if (existing) {
      return new Promise((resolve, reject) => {
        const { resolve: r0, reject: j0 } = existing;
        existing.resolve = (a) => {
          r0(a);
          resolve(a);
        };
        existing.reject = (e) => {
          j0(e);
          reject(e);
        };
      });
    }
    return new Promise<SendAck>((resolve, reject) => {
      const timeoutMs = this.#options.sendTimeoutMs ?? 30000;
      const pending: Pending = {
        clientMessageId,
        recipientId,
        body,
        attempts: 0,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#settle(pending);
          reject(new ChatClientError('TIMEOUT', `no SendAck within ${timeoutMs} ms`, { clientMessageId }));
        }, timeoutMs),
      };
      this.#pending.set(clientMessageId, pending);
      this.#transmit(pending);
    });
  }

  #transmit(pending: Pending): void {
    if (!this.#pending.has(pending.clientMessageId)) return;
    const ws = this.#ws;
    if (!ws || ws.readyState !== OPEN || !this.#welcome) return; // sent after the next Welcome
    ws.send(
      toBinary(
        ClientFrameSchema,
        create(ClientFrameSchema, {
          frame: {
            case: 'send',
            value: {
              clientMessageId: pending.clientMessageId,
              recipientId: pending.recipientId,
              body: pending.body,
            },
          },
        }),
      ),
    );
  }

  #sendHeartbeat(): void {
    const ws = this.#ws;
    if (!ws || ws.readyState !== OPEN) return;
    this.#lastHeartbeatAt = Date.now();
    ws.send(
      toBinary(
        ClientFrameSchema,
        create(ClientFrameSchema, {
          frame: {
            case: 'heartbeat',
            value: this.#lastReadMs > 0 ? { lastReadTimestamp: timestampFromMs(this.#lastReadMs) } : {},
          },
        }),
      ),
    );
  }

  /**
   * Moves the read cursor forward (never back) to a time or to a message's sent_at. It travels
   * with the next heartbeat (at most ~250 ms later), which also updates presence and read state.
   */
  markRead(upTo: Date | number | ChatMessage): void {
    const ms =
      typeof upTo === 'number' || upTo instanceof Date
        ? toMs(upTo)
        : Number(upTo.sentAt?.seconds ?? 0n) * 1000 + Math.floor((upTo.sentAt?.nanos ?? 0) / 1e6);
    if (ms <= this.#lastReadMs) return;
    this.#lastReadMs = ms;
    if (this.#readTimer) return;
    const wait = Math.max(0, 250 - (Date.now() - this.#lastHeartbeatAt));
    this.#readTimer = setTimeout(() => {
      this.#readTimer = undefined;
      this.#sendHeartbeat();
    }, wait);
  }

  /**
   * Every message from now on, each once (catch-up first, then live). Several iterators may run
   * at once; breaking out of a for-await loop unsubscribes.
   */
  messages(): AsyncIterableIterator<ChatMessage> {
    const queue: ChatMessage[] = [];
    let wake: (() => void) | undefined;
    let ended = false;
    const offMessage = this.on('message', (m) => {
      queue.push(m);
      wake?.();
    });
    const offState = this.on('state', (s) => {
      if (s === 'closed') {
        ended = true;
        wake?.();
      }
    });
    const stop = () => {
      ended = true;
      offMessage();
      offState();
      wake?.();
    };
    const iterator: AsyncIterableIterator<ChatMessage> = {
      [Symbol.asyncIterator]: () => iterator,
      next: async () => {
        while (queue.length === 0 && !ended) {
          await new Promise<void>((r) => {
            wake = r;
          });
          wake = undefined;
        }
        const value = queue.shift();
        if (value !== undefined) return { value, done: false };
        stop();
        return { value: undefined, done: true };
      },
      return: async () => {
        stop();
        return { value: undefined, done: true };
      },
    };
    return iterator;
  }

  /** Closes for good: pending sends reject with CLOSED, iterators end. */
  close(): void {
    if (this.#state === 'closed') return;
    this.#setState('closed');
    clearInterval(this.#heartbeatTimer);
    clearTimeout(this.#reconnectTimer);
    clearTimeout(this.#readTimer);
    const ws = this.#ws;
    this.#ws = undefined;
    try {
      ws?.close(1000, 'client closed');
    } catch {}
    for (const pending of [...this.#pending.values()]) {
      this.#settle(pending);
      pending.reject(
        new ChatClientError('CLOSED', 'client closed before the message was acknowledged', {
          clientMessageId: pending.clientMessageId,
        }),
      );
    }
  }
}
