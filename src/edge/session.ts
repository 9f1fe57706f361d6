/**
 * One WebSocket connection of one user: Welcome, heartbeats and liveness, the send path
 * (validate, rate-limit, dedupe, produce, SendAck), catch-up and then live delivery, and the
 * stalled-reader guard. A bad frame only ever affects its own connection.
 */
import { create } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import type { Kysely } from 'kysely';
import { type RawData, WebSocket } from 'ws';
import { type SendAck, SendAckSchema, type SendMessage, WelcomeSchema } from '../../gen/chat/v1/frames_pb.js';
import type { ChatMessage } from '../../gen/chat/v1/message_pb.js';
import { chatMessageRecord, msOf, newChatMessage } from '../shared/codec.js';
import type { Database } from '../shared/db/schema.js';
import { ChatBackendError, type ChatErrorCode } from '../shared/errors.js';
import { newMessageId } from '../shared/ids.js';
import type { Logger } from '../shared/logger.js';
import type { BatchingProducer } from './batching-producer.js';
import { type CatchUpSession, LiveGate, runCatchUp, storedCursor } from './catch-up.js';
import { CLOSE, type CloseReason } from './close-codes.js';
import type { ResolvedEdgeOptions } from './config.js';
import type { Delivery, LiveRecord } from './delivery.js';
import { encodeServerFrame, errorFrame, FrameError, heartbeatAckFrame, parseClientFrame } from './frames.js';
import type { EdgeMetrics } from './metrics.js';
import type { PresencePublisher } from './presence-publisher.js';
import { createRateLimiter, type RateLimiter } from './rate-limiter.js';
import type { SendDedupe } from './send-dedupe.js';
import type { WriterWatermark } from './writer-watermark.js';

/** What every session of one server shares. */
export interface SessionContext {
  serverId: string;
  options: ResolvedEdgeOptions;
  metrics: EdgeMetrics;
  log: Logger | undefined;
  delivery: Delivery;
  watermark: WriterWatermark;
  db: Kysely<Database>;
  producer: BatchingProducer;
  dedupe: SendDedupe<SendAck>;
  presence: PresencePublisher;
  isDraining(): boolean;
  onClosed(session: Session): void;
}

/** Most client_message_ids remembered per connection to skip the live echo of its own sends. */
const MAX_OWN_SENDS = 10_000;

/**
 * The chat server's WebSocket class (ws's `WebSocket` server option). It carries its session, so
 * the session's socket listeners are shared functions rather than closures per connection.
 */
export class SessionSocket extends WebSocket {
  session: Session | undefined;
}

// ws calls its listeners with `this` set to the socket, which the server made a SessionSocket.
function onSocketMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  (this as SessionSocket).session?.onFrame(data as Buffer, isBinary);
}

function onSocketClose(this: WebSocket): void {
  (this as SessionSocket).session?.onSocketClosed();
}

function onSocketError(this: WebSocket, err: Error): void {
  (this as SessionSocket).session?.onSocketError(err);
}

/**
 * A connected, authenticated WebSocket.
 *
 * An idle connection should cost little beyond the socket itself (thousands per process), so
 * what only some connections or only catch-up need is created on use and dropped after: the live
 * gate and the abort controller live while catch-up runs (the gate longer only while it still
 * has live duplicates to drop), the rate limiter from the first send, the own-sends set while a
 * send's live echo is outstanding.
 */
export class Session implements CatchUpSession {
  readonly #ws: SessionSocket;
  readonly #ctx: SessionContext;
  #gate: LiveGate | undefined;
  #limiter: RateLimiter | undefined;
  #abort: AbortController | undefined;
  #ownSends: Set<string> | undefined;
  readonly #connectedAt = Date.now();
  #lastFrameAt = Date.now();
  #invalidFrames = 0;
  #catchUpStarted = false;
  #firstHeartbeatTimer: NodeJS.Timeout | undefined;
  #closing = false;
  #closed = false;

  constructor(
    ws: SessionSocket,
    readonly userId: string,
    ctx: SessionContext,
  ) {
    this.#ws = ws;
    this.#ctx = ctx;
    ws.session = this;
    ws.on('message', onSocketMessage);
    ws.on('close', onSocketClose);
    ws.on('error', onSocketError);
    const o = ctx.options;
    this.sendFrame(
      encodeServerFrame({
        case: 'welcome',
        value: create(WelcomeSchema, {
          serverId: ctx.serverId,
          userId,
          heartbeatIntervalMs: o.heartbeatIntervalMs,
          maxFrameBytes: o.maxFrameBytes,
          maxBodyBytes: o.maxBodyBytes,
        }),
      }),
      'welcome',
    );
    ctx.presence.sessionOpened(userId);
    this.#firstHeartbeatTimer = setTimeout(() => this.#startCatchUp(undefined), o.firstHeartbeatWaitMs);
  }

  /** The live side of catch-up; created when catch-up starts. */
  get gate(): LiveGate {
    this.#gate ??= new LiveGate(this.#ctx.options.catchUpBufferLimit);
    return this.#gate;
  }

  /** Aborted when the socket closes. */
  get signal(): AbortSignal {
    if (!this.#abort) {
      this.#abort = new AbortController();
      if (this.#closing) this.#abort.abort();
    }
    return this.#abort.signal;
  }

  /** When the last frame arrived (ms). */
  get lastFrameAt(): number {
    return this.#lastFrameAt;
  }

  get closed(): boolean {
    return this.#closed;
  }

  bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }

  isOwnSend(message: ChatMessage): boolean {
    return message.senderId === this.userId && this.#ownSends?.has(message.clientMessageId) === true;
  }

  /** Called synchronously by delivery for each live record of this user. */
  receive(record: LiveRecord): void {
    const m = record.message;
    // This connection has the SendAck already; its other devices get the copy.
    if (m.senderId === this.userId && this.#forgetOwnSend(m.clientMessageId)) return;
    const gate = this.#gate;
    if (!gate) {
      this.sendFrame(record.frame(), 'message');
      return;
    }
    const out = gate.accept(record);
    if (out) this.sendFrame(out.frame(), 'message');
    this.#dropGateWhenDone();
  }

  /** Once live, the gate is only needed while it still has live duplicates to drop. */
  #dropGateWhenDone(): void {
    if (this.#gate?.live && this.#gate.pendingLiveDupes.size === 0) this.#gate = undefined;
  }

  #forgetOwnSend(clientMessageId: string): boolean {
    const own = this.#ownSends;
    if (!own?.delete(clientMessageId)) return false;
    if (own.size === 0) this.#ownSends = undefined;
    return true;
  }

  /** Sends one encoded ServerFrame; closes a stalled reader (1013). */
  sendFrame(frame: Uint8Array, type: string): void {
    if (this.#closing || this.#ws.readyState !== WebSocket.OPEN) return;
    this.#ws.send(frame);
    this.#ctx.metrics.framesOut.inc({ type });
    if (this.#ws.bufferedAmount > this.#ctx.options.maxBufferedBytes) {
      this.#ctx.log?.warn(
        { userId: this.userId, buffered: this.#ws.bufferedAmount },
        'stalled reader; closing',
      );
      this.close(CLOSE.TRY_AGAIN_LATER, true);
    }
  }

  #sendError(code: ChatErrorCode, message: string, clientMessageId = ''): void {
    this.#ctx.metrics.errors.inc({ code });
    this.sendFrame(errorFrame(code, message, clientMessageId), 'error');
  }

  /**
   * Closes with a code from the protocol table. A socket that does not finish the closing
   * handshake promptly (or a stalled reader, at once) is destroyed.
   */
  close(reason: CloseReason, hard = false): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#ctx.metrics.closes.inc({ code: String(reason.code) });
    this.#abort?.abort();
    try {
      this.#ws.close(reason.code, reason.reason);
    } catch {
      // Already closing.
    }
    const timer = setTimeout(() => this.#ws.terminate(), hard ? 500 : 3000);
    timer.unref();
    this.#ws.once('close', () => clearTimeout(timer));
  }

  /** One frame from the socket (its 'message' listener). */
  onFrame(data: Buffer, isBinary: boolean): void {
    this.#lastFrameAt = Date.now();
    const { metrics, options } = this.#ctx;
    if (!isBinary) {
      metrics.framesIn.inc({ type: 'text' });
      this.#invalid('text frames are not accepted; send binary ClientFrames', CLOSE.UNSUPPORTED_DATA);
      return;
    }
    let action: ReturnType<typeof parseClientFrame>;
    try {
      action = parseClientFrame(data, options.maxBodyBytes);
    } catch (err) {
      if (err instanceof FrameError) {
        metrics.framesIn.inc({ type: 'send' });
        this.#sendError(err.code, err.message, err.clientMessageId);
      } else if (ChatBackendError.is(err, 'CHAT_ERR_INVALID_FRAME')) {
        metrics.framesIn.inc({ type: 'invalid' });
        this.#invalid(err.message, CLOSE.INVALID_PAYLOAD);
      } else {
        this.#ctx.log?.error({ err }, 'unexpected error parsing a frame');
        this.#sendError('CHAT_ERR_INTERNAL', 'internal error');
      }
      return;
    }
    metrics.framesIn.inc({ type: action.kind });
    if (action.kind === 'heartbeat') {
      const now = Date.now();
      // A cursor in the future (a client's clock) would hide messages not yet sent, here and in
      // the stored read state; no message can be newer than now + the clock skew bound.
      const lastRead = Math.min(msOf(action.heartbeat.lastReadTimestamp), now + this.#ctx.options.skewMs);
      this.sendFrame(heartbeatAckFrame(now), 'heartbeatAck');
      this.#ctx.presence.heartbeat(this.userId, lastRead);
      if (!this.#catchUpStarted)
        this.#startCatchUp(action.heartbeat.lastReadTimestamp ? lastRead : undefined);
      return;
    }
    this.#onSend(action.send);
  }

  #invalid(message: string, closeWith: CloseReason): void {
    this.#invalidFrames++;
    this.#sendError('CHAT_ERR_INVALID_FRAME', message);
    if (this.#invalidFrames > this.#ctx.options.maxInvalidFrames) this.close(closeWith);
  }

  #onSend(send: SendMessage): void {
    const cmid = send.clientMessageId;
    // A bucket made now is as full as one made at connect time would be (refills cap at burst).
    this.#limiter ??= createRateLimiter({
      ratePerSecond: this.#ctx.options.sendRatePerSecond,
      burst: this.#ctx.options.sendBurst,
    });
    if (!this.#limiter.tryTake()) {
      this.#sendError('CHAT_ERR_RATE_LIMITED', 'too many messages; slow down', cmid);
      return;
    }
    if (this.#ctx.isDraining()) {
      this.#sendError('CHAT_ERR_DRAINING', 'the server is draining; reconnect and resend', cmid);
      return;
    }
    const started = performance.now();
    const { dedupe } = this.#ctx;
    let result = dedupe.get(this.userId, cmid);
    if (!result) {
      result = this.#produce(send);
      dedupe.remember(this.userId, cmid, result);
      this.#ownSends ??= new Set();
      this.#ownSends.add(cmid);
      if (this.#ownSends.size > MAX_OWN_SENDS) {
        const oldest = this.#ownSends.values().next().value;
        if (oldest !== undefined) this.#ownSends.delete(oldest);
      }
    }
    result.then(
      (ack) => {
        this.#ctx.metrics.sendAckSeconds.observe((performance.now() - started) / 1000);
        this.sendFrame(encodeServerFrame({ case: 'sendAck', value: ack }), 'sendAck');
      },
      (err: unknown) => {
        this.#forgetOwnSend(cmid);
        if (ChatBackendError.is(err)) {
          this.#sendError(err.code === 'CHAT_ERR_CONFIG' ? 'CHAT_ERR_INTERNAL' : err.code, err.message, cmid);
        } else {
          this.#ctx.log?.error({ err }, 'send failed');
          this.#sendError('CHAT_ERR_UNAVAILABLE', 'the message could not be sent; resend it', cmid);
        }
      },
    );
  }

  async #produce(send: SendMessage): Promise<SendAck> {
    const now = Date.now();
    const message = newChatMessage({
      messageId: newMessageId(now),
      clientMessageId: send.clientMessageId,
      senderId: this.userId,
      recipientId: send.recipientId,
      body: send.body,
      sentAtMs: now,
    });
    const { options, producer, db } = this.#ctx;
    if (options.sendPathInsert) {
      try {
        await db
          .insertInto('messages')
          .values({
            message_id: message.messageId,
            client_message_id: message.clientMessageId,
            sender_id: message.senderId,
            recipient_id: message.recipientId,
            body: Buffer.from(message.body, 'utf8'),
            sent_at: new Date(now),
            kafka_partition: -1,
            kafka_offset: -1,
          })
          .onConflict((oc) => oc.doNothing())
          .execute();
      } catch (err) {
        throw new ChatBackendError('CHAT_ERR_UNAVAILABLE', 'the database is unavailable; resend', {
          cause: err,
        });
      }
    }
    await producer.send(options.topics.messages, chatMessageRecord(message));
    return create(SendAckSchema, {
      clientMessageId: message.clientMessageId,
      messageId: message.messageId,
      sentAt: timestampFromMs(now),
    });
  }

  #startCatchUp(heartbeatCursorMs: number | undefined): void {
    if (this.#catchUpStarted || this.#closing) return;
    this.#catchUpStarted = true;
    clearTimeout(this.#firstHeartbeatTimer);
    this.#firstHeartbeatTimer = undefined;
    const { options, db, delivery, watermark, metrics, log } = this.#ctx;
    const run = async () => {
      const cursorMs = heartbeatCursorMs ?? (await storedCursor(db, this.userId));
      if (this.#closing) return;
      const result = await runCatchUp(this, cursorMs, {
        db,
        delivery,
        watermark,
        pageSize: options.catchUpPageSize,
        skewMs: options.skewMs,
        timeoutMs: options.catchUpTimeoutMs,
        maxPendingBytes: Math.min(1024 * 1024, options.maxBufferedBytes / 4),
      });
      if (this.#closing) return;
      this.#dropGateWhenDone();
      metrics.catchUpSeconds.observe((Date.now() - this.#connectedAt) / 1000);
      metrics.catchUpMessages.inc(result.delivered);
      metrics.catchUpRewinds.inc(result.rewinds);
    };
    run()
      .catch((err: unknown) => {
        if (this.#closing) return;
        log?.warn({ err, userId: this.userId }, 'catch-up failed; closing 1013');
        this.#sendError('CHAT_ERR_UNAVAILABLE', 'history is temporarily unavailable; reconnect later');
        this.close(CLOSE.TRY_AGAIN_LATER);
      })
      .finally(() => {
        // Only catch-up listens to the signal; a close after this has nothing left to abort.
        if (!this.#closing) this.#abort = undefined;
      });
  }

  /** A socket error (its 'error' listener); ws closes the socket, which ends the session. */
  onSocketError(err: Error): void {
    this.#ctx.log?.debug({ err, userId: this.userId }, 'socket error');
  }

  /** The socket closed (its 'close' listener). */
  onSocketClosed(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing = true;
    this.#abort?.abort();
    clearTimeout(this.#firstHeartbeatTimer);
    this.#firstHeartbeatTimer = undefined;
    this.#ctx.delivery.unregister(this);
    this.#ctx.presence.sessionClosed(this.userId);
    this.#ctx.onClosed(this);
  }
}
