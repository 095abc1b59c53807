import type { Logger } from 'pino';
import { MIMCError, ErrorCode } from '../errors.js';
import { BIND_METHOD, CHID, Cmd, PacketType, SERVER } from '../protocol/constants.js';
import { ownCopy } from '../protocol/bytes.js';
import { bindSignature } from '../protocol/keys.js';
import { createClientCodec, type ClientFrameCodec } from '../protocol/client-codec.js';
import {
  bindKickValue,
  decodeBindResult,
  decodeConnResp,
  openSecMsgPayload,
  type BindOptions,
  type BindResult,
  type ClientHeader,
  type DecodedBody,
  type MimcPacket,
} from '../protocol/packets.js';
import { FrameConnection } from '../transport/connection.js';
import type { Endpoint, FrameSink, FrameTransport } from '../transport/types.js';
import { WebSocketConnection } from '../transport/websocket.js';
import type { IdGenerator } from './ids.js';
import type { TokenInfo } from './token.js';

export interface SessionConfig {
  endpoint: Endpoint;
  resource: string;
  token: TokenInfo;
  ids: IdGenerator;
  connectTimeoutMs: number;
  loginTimeoutMs: number;
  pingIntervalMs: number;
  responseTimeoutMs: number;
  maxFrameBody: number;
  bind: Readonly<BindOptions>;
  logger: Logger;
}

export interface SessionEvents {
  /** A decrypted SECMSG packet (ack, compound list, ...). */
  onPacket(packet: MimcPacket, session: Session): void;
  /** The server kicked this resource; the session closes right after. */
  onKick(result: BindResult, session: Session): void;
  /** The session ended; `error` undefined for a deliberate close. Called once, after establish resolved. */
  onClose(error: MIMCError | undefined, session: Session): void;
}

/** Thrown by `Session.establish` when the server refuses the BIND. */
export class LoginRejectedError extends MIMCError {
  constructor(readonly result: BindResult) {
    super(ErrorCode.LOGIN_REJECTED, `login rejected: ${result.errorType || 'unknown'} ${result.errorReason}`.trim(), {
      details: { errorType: result.errorType, errorReason: result.errorReason, errorDesc: result.errorDesc },
    });
  }
}

/** `unbinding`: UBND written; nothing else may follow it on this connection. */
type Phase = 'conn' | 'bind' | 'bound' | 'unbinding' | 'closed';

/**
 * One logged-in connection: CONN and BIND on a fresh socket, then SECMSG traffic with
 * keep-alive. The session owns the liveness timers: a PING after `pingIntervalMs` without
 * writing, and a deadline of `responseTimeoutMs` after each request by which *some* frame
 * must arrive — only incoming bytes prove the peer alive.
 */
export class Session implements FrameSink {
  private phase: Phase = 'conn';
  private readonly codec: ClientFrameCodec;
  private connection!: FrameTransport;
  /** Settles `establish`; null once settled. */
  private handshake: { resolve(): void; reject(err: MIMCError): void; timer: NodeJS.Timeout } | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  /**
   * performance.now() of the first request written since the last frame arrived (null: none
   * waiting). The liveness timer checks it lazily, so a busy connection arms no timer per frame.
   */
  private awaitingSince: number | null = null;
  private deadTimer: NodeJS.Timeout | null = null;
  private afterAnyFrame: (() => void) | null = null;

  private constructor(
    private readonly config: SessionConfig,
    private readonly events: SessionEvents,
  ) {
    this.codec = createClientCodec(config.endpoint.kind, { maxFrameBody: config.maxFrameBody });
  }

  get identity() {
    return { uuid: this.config.token.uuid, resource: this.config.resource };
  }

  get token(): TokenInfo {
    return this.config.token;
  }

  get isBound(): boolean {
    return this.phase === 'bound';
  }

  /** Monotonic ms of the last byte received. */
  get lastReceivedAt(): number {
    return this.connection.lastReceivedAt;
  }

  /**
   * Connects, handshakes and binds. Resolves with a bound session; rejects with
   * LoginRejectedError when the server refuses, or another MIMCError on network trouble.
   * The handshake runs inside the read path, so frames the server sends right behind its
   * answers (often in the same TCP chunk) are decrypted and dispatched correctly.
   */
  static async establish(config: SessionConfig, events: SessionEvents, signal: AbortSignal): Promise<Session> {
    const session = new Session(config, events);
    const { endpoint } = config;
    const open = { connectTimeoutMs: config.connectTimeoutMs, maxFrameBody: config.maxFrameBody };
    session.connection =
      endpoint.kind === 'tcp'
        ? await FrameConnection.open({ host: endpoint.host, port: endpoint.port, ...open }, session, signal)
        : await WebSocketConnection.open(endpoint, open, session, signal);
    const onAbort = () => session.close(new MIMCError(ErrorCode.ABORTED, 'login aborted', { cause: signal.reason }));
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await new Promise<void>((resolve, reject) => {
        session.handshake = { resolve, reject, timer: setTimeout(session.handshakeTimedOut, config.loginTimeoutMs) };
        session.connection.send(session.codec.conn(session.identity, config.ids.next()));
      });
      return session;
    } catch (err) {
      session.close(MIMCError.is(err) ? err : new MIMCError(ErrorCode.MALFORMED_FRAME, 'bad handshake answer', { cause: err }));
      throw err;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** Writes a SECMSG packet. `expectsReply` arms the liveness deadline (false for sequence acks). */
  sendPacket(packet: MimcPacket, expectsReply: boolean, stillWanted?: () => boolean): boolean {
    if (this.phase !== 'bound') return false;
    const frame = this.codec.secMsg(this.identity, packet, this.config.token.securityKey);
    return this.write(frame, expectsReply, stillWanted);
  }

  /** Sends UBND and waits (at most `timeoutMs`) for the server's answer, then closes. */
  async unbind(timeoutMs: number): Promise<void> {
    if (this.phase !== 'bound') return this.close();
    this.phase = 'unbinding';
    this.clearDeadTimer();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.afterAnyFrame = () => {
        clearTimeout(timer);
        resolve();
      };
      this.connection.send(this.codec.headerOnly(Cmd.UBND, this.identity, this.config.ids.next()));
    });
    this.close();
  }

  /** Closes the connection and stops the timers. Idempotent. */
  close(error?: MIMCError): void {
    if (this.phase === 'closed') return;
    this.connection.close(error);
  }

  // ---- FrameSink ------------------------------------------------------------------------------

  onFrame(unit: Uint8Array): void {
    this.awaitingSince = null;
    const hook = this.afterAnyFrame;
    this.afterAnyFrame = null;
    hook?.();
    try {
      const decoded = this.codec.decode(unit);
      if (decoded === null) return; // pong
      if (this.phase === 'bound' || this.phase === 'unbinding') this.dispatch(decoded);
      else this.advanceHandshake(decoded);
    } catch (err) {
      this.close(MIMCError.is(err) ? err : new MIMCError(ErrorCode.MALFORMED_FRAME, 'bad frame', { cause: err }));
    }
  }

  onClose(error: MIMCError | undefined): void {
    const wasBound = this.phase === 'bound' || this.phase === 'unbinding';
    this.phase = 'closed';
    this.clearDeadTimer();
    if (this.pingTimer) clearTimeout(this.pingTimer);
    this.pingTimer = null;
    const hook = this.afterAnyFrame;
    this.afterAnyFrame = null;
    hook?.();
    this.settleHandshake(error ?? new MIMCError(ErrorCode.CONNECTION_LOST, 'connection closed during login'));
    if (wasBound) this.events.onClose(error, this);
  }

  // ---- internals ------------------------------------------------------------------------------

  private advanceHandshake(decoded: DecodedBody): void {
    const { header } = decoded;
    if (this.phase === 'conn' && header.cmd === Cmd.CONN) {
      const { challenge } = decodeConnResp(decoded.payload);
      this.codec.keyWith(challenge);
      this.phase = 'bind';
      this.handshake?.timer.refresh();
      this.sendBind(challenge);
    } else if (this.phase === 'bind' && header.cmd === Cmd.BIND) {
      const result = decodeBindResult(decoded.payload);
      if (!result.result) return this.settleHandshake(new LoginRejectedError(result));
      this.phase = 'bound';
      this.pingTimer = setTimeout(this.ping, this.config.pingIntervalMs);
      this.settleHandshake();
    } else if (header.cmd === Cmd.KICK) {
      this.settleHandshake(new LoginRejectedError(this.safeBindResult(decoded)));
    } else {
      this.config.logger.debug({ cmd: header.cmd, phase: this.phase }, 'ignored frame during login');
    }
  }

  private sendBind(challenge: string): void {
    const who = this.identity;
    const { token, ids, bind } = this.config;
    const id = ids.next();
    const sig = bindSignature({
      method: BIND_METHOD,
      challenge,
      chid: CHID,
      clientAttrs: bind.clientAttrs,
      cloudAttrs: bind.cloudAttrs,
      uuid: who.uuid,
      resource: who.resource,
      headerId: id,
      kick: bindKickValue(bind.kick),
      server: SERVER,
      token: token.token,
      securityKey: token.securityKey,
    });
    this.connection.send(this.codec.bind(who, id, { token: token.token, sig, options: bind }));
  }

  private settleHandshake(error?: MIMCError): void {
    const handshake = this.handshake;
    if (!handshake) return;
    this.handshake = null;
    clearTimeout(handshake.timer);
    if (error) handshake.reject(error);
    else handshake.resolve();
  }

  private readonly handshakeTimedOut = (): void => {
    const step = this.phase === 'conn' ? 'CONN' : 'BIND';
    this.settleHandshake(new MIMCError(ErrorCode.LOGIN_TIMEOUT, `no ${step} answer within ${this.config.loginTimeoutMs} ms`));
  };

  private dispatch(decoded: DecodedBody): void {
    const { header } = decoded;
    switch (header.cmd) {
      case Cmd.SECMSG:
        this.events.onPacket(this.openPacket(header, decoded.payload), this);
        return;
      case Cmd.KICK: {
        const result = this.safeBindResult(decoded);
        this.events.onKick(result, this);
        this.close(
          new MIMCError(ErrorCode.KICKED, `kicked: ${result.errorType} ${result.errorReason}`.trim(), {
            details: { errorType: result.errorType, errorReason: result.errorReason },
          }),
        );
        return;
      }
      default:
        // BIND/PING/UBND answers with a header carry nothing we need; they only prove liveness.
        this.config.logger.debug({ cmd: header.cmd }, 'ignored frame');
    }
  }

  /**
   * The packet of a SECMSG, decrypted where it arrived (inside the socket's chunk or the
   * WebSocket message). Acks are read and dropped at once; any other packet's payload may reach
   * the app, so it gets bytes of its own rather than a view that would pin the whole chunk.
   */
  private openPacket(header: ClientHeader, payload: Uint8Array): MimcPacket {
    const packet = openSecMsgPayload(header, payload, this.config.token.securityKey);
    if (packet.payload !== undefined && packet.type !== PacketType.PACKET_ACK && packet.type !== PacketType.ONLINE_MESSAGE_ACK) {
      packet.payload = ownCopy(packet.payload);
    }
    return packet;
  }

  private safeBindResult(decoded: DecodedBody): BindResult {
    try {
      return decodeBindResult(decoded.payload);
    } catch {
      return { result: false, errorType: 'unknown', errorReason: 'unparsable', errorDesc: '' };
    }
  }

  private write(frame: Uint8Array, expectsReply: boolean, stillWanted?: () => boolean): boolean {
    if (!this.connection.send(frame, stillWanted)) return false;
    this.pingTimer?.refresh();
    if (expectsReply && this.awaitingSince === null) {
      this.awaitingSince = performance.now();
      this.deadTimer ??= setTimeout(this.checkAlive, this.config.responseTimeoutMs);
    }
    return true;
  }

  private readonly ping = (): void => {
    if (this.phase !== 'bound') return;
    this.write(this.codec.headerOnly(Cmd.PING, this.identity, this.config.ids.next()), true);
    this.pingTimer?.refresh();
  };

  private readonly checkAlive = (): void => {
    this.deadTimer = null;
    if (this.awaitingSince === null) return; // answered; the next request arms the timer again
    const waited = performance.now() - this.awaitingSince;
    const timeoutMs = this.config.responseTimeoutMs;
    if (waited < timeoutMs) {
      this.deadTimer = setTimeout(this.checkAlive, Math.ceil(timeoutMs - waited));
      return;
    }
    this.close(new MIMCError(ErrorCode.CONNECTION_LOST, `no answer from the server within ${timeoutMs} ms`));
  };

  private clearDeadTimer(): void {
    this.awaitingSince = null;
    if (this.deadTimer !== null) {
      clearTimeout(this.deadTimer);
      this.deadTimer = null;
    }
  }
}
