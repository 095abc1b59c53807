/**
 * One frontend connection (TCP or WebSocket): the CONN → BIND → online state machine, session
 * crypto, and paced COMPOUND delivery with backpressure. The link carries the units, the wire
 * lays out the frames; nothing here depends on which transport it is.
 */
import { timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { MIMCError, ErrorCode } from '../errors.js';
import { pooledRandomBytes } from './random.js';
import { BIND_KICK, BIND_KICK_OTHERS, Cmd, DirFlag, MAX_BIND_ATTRS_BYTES, PacketType, PushStatus } from '../protocol/constants.js';
import { EMPTY_FRAME } from '../protocol/frame.js';
import { bindSignature } from '../protocol/keys.js';
import {
  decodeBind,
  decodeConn,
  decodeP2PMessage,
  decodeP2TMessage,
  decodePullRequest,
  decodeSequenceAck,
  encodeBindResult,
  encodeConnResp,
  encodeOnlineMessageAck,
  encodePacketAck,
  encodePacketList,
  serverHeader,
  type BindResult,
  type ClientHeader,
  type MimcPacket,
  type PacketAck,
} from '../protocol/packets.js';
import {
  UC_MAX_PAYLOAD_BYTES,
  UcType,
  decodeUcGroupRequest,
  decodeUcMessage,
  decodeUcPacket,
  decodeUcPing,
  decodeUcSequenceAck,
  encodeUcGroupResponse,
  encodeUcOnlineUsers,
  encodeUcPacket,
  encodeUcPing,
} from '../protocol/uc.js';
import { AckCode, type RouteResult } from './acks.js';
import type { EmulatorCore } from './core.js';
import type { BoundSession, ClientPeer } from './peer.js';
import type { TransportKind } from '../protocol/client-codec.js';
import { DeliveryCursor } from './delivery.js';
import type { PeerLink } from './link.js';
import type { Account, Delivery } from './store.js';
import { createServerWire, type ServerWire } from './wire.js';
import { FrameWriter } from './writer.js';

/** Who a connection is logged in as. The token record holds the security key in use. */
type State = 'awaiting-conn' | 'handshaken' | 'bound' | 'closed';

/** A graceful close (after KICK) waits this long for the peer before destroying the socket. */
const GRACEFUL_CLOSE_MS = 2000;

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A random alphanumeric challenge of 16 to 32 characters. */
export function randomChallenge(): string {
  const bytes = pooledRandomBytes(64);
  const length = 16 + (bytes[0]! % 17);
  let out = '';
  for (let i = 1; i < bytes.length && out.length < length; i++) {
    // 248 = 4 * 62: rejecting larger bytes keeps the alphabet uniform.
    if (bytes[i]! < 248) out += ALNUM[bytes[i]! % 62];
  }
  while (out.length < length) out += ALNUM[pooledRandomBytes(1)[0]! % 62];
  return out;
}

function violation(message: string, code: ErrorCode = ErrorCode.MALFORMED_FRAME, details?: Record<string, unknown>): MIMCError {
  return new MIMCError(code, message, details ? { details } : undefined);
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

export class Connection implements ClientPeer {
  private state: State = 'awaiting-conn';
  private readonly wire: ServerWire;
  private challenge = '';
  session: BoundSession | null = null;
  /** The connection's child logger, made at first use: most connections never log at the level in force. */
  private childLog: Logger | null = null;

  /** What goes into the next COMPOUND (cursor into the store, live queue, window). */
  private readonly delivery: DeliveryCursor;
  private pumpScheduled = false;
  private pumpHandle: NodeJS.Immediate | null = null;
  private readonly writer: FrameWriter;
  private readonly idleTimer: NodeJS.Timeout;
  private loginTimer: NodeJS.Timeout | null;
  private closeTimer: NodeJS.Timeout | null = null;
  /** Why the peer was refused, for the WebSocket close code; undefined for any other close. */
  private violation: unknown;

  constructor(
    private readonly core: EmulatorCore,
    private readonly link: PeerLink,
    readonly id: number,
  ) {
    this.wire = createServerWire(link.kind, core.options.maxFrameBody);
    // Until BIND succeeds only small frames are accepted: an anonymous peer holds at most this much.
    link.setMaxBody(this.preBindLimit);
    const { idleTimeoutMs, bindTimeoutMs } = core.options;
    this.idleTimer = setTimeout(() => this.close(`no inbound bytes for ${idleTimeoutMs} ms`), idleTimeoutMs);
    this.loginTimer = setTimeout(() => this.close(`not bound within ${bindTimeoutMs} ms`), bindTimeoutMs);
    const { compoundBatchSize, compoundMaxBytes, maxFrameBody, offlineStoreLimit, maxUnackedBatches } = core.options;
    this.delivery = new DeliveryCursor(compoundBatchSize, maxFrameBody, Buffer.byteLength(core.app.appPackage), offlineStoreLimit, maxUnackedBatches, compoundMaxBytes);
    this.writer = new FrameWriter(link, this.wire, core.faultState, core.stats, core.options.maxQueuedBytes, this, {
      appAccount: () => this.appAccount,
      overflow: (reason) => this.close(reason),
      drained: () => this.schedulePump(),
    });
    link.start({
      units: (units, error) => this.onUnits(units, error),
      drained: () => this.writer.onDrain(),
      ended: (reason) => this.close(reason),
      closed: () => this.onLinkClosed(),
    });
    if (core.log.isLevelEnabled('debug')) this.log.debug({ remote: link.remote }, 'connection accepted');
  }

  get log(): Logger {
    return (this.childLog ??= this.core.log.child({ conn: this.id, transport: this.link.kind }));
  }

  private get preBindLimit(): number {
    return Math.min(this.core.options.maxPreBindFrameBody, this.core.options.maxFrameBody);
  }

  get transport(): TransportKind {
    return this.link.kind;
  }

  get appAccount(): string | undefined {
    return this.session?.account.appAccount;
  }

  get isClosed(): boolean {
    return this.state === 'closed';
  }

  get handshaken(): boolean {
    return this.state === 'handshaken' || this.state === 'bound';
  }

  // -------------------------------------------------------------------------------------------
  // Inbound

  private onUnits(units: Uint8Array[], error: MIMCError | null): void {
    if (this.state === 'closed') return;
    this.idleTimer.refresh();
    // frames verified before a corrupt one are handled first, then the connection is refused
    for (const unit of units) {
      if (this.isClosed) return;
      this.core.stats.framesIn++;
      if (this.core.faultState.isStalled(this.appAccount)) continue;
      try {
        this.handleUnit(unit);
      } catch (err) {
        this.reject(err);
        return;
      }
    }
    if (error && !this.isClosed) {
      if (error.code === ErrorCode.FRAME_TOO_LARGE && this.state !== 'bound') this.core.stats.preBindFramesRefused++;
      this.reject(error);
    }
  }

  private handleUnit(unit: Uint8Array): void {
    if (this.state === 'awaiting-conn') {
      this.handleConn(unit);
      return;
    }
    const decoded = this.wire.decode(unit);
    if (decoded === null) {
      // The C++ SDK pings with an empty TCP frame.
      this.writer.write(EMPTY_FRAME);
      return;
    }
    const { header, payload } = decoded;
    if (header.cmd !== Cmd.BIND && this.session) this.checkIdentity(header);
    switch (header.cmd) {
      case Cmd.BIND:
        this.handleBind(header, payload);
        return;
      case Cmd.PING:
        this.writer.write(this.wire.pong(header));
        return;
      case Cmd.UBND:
        if (this.session) {
          this.log.debug({ resource: this.session.resource }, 'unbound by client');
          this.unbind();
        }
        this.writer.write(this.wire.pong(header));
        return;
      case Cmd.SECMSG:
        if (!this.session) throw violation('SECMSG before a successful BIND', ErrorCode.NOT_LOGGED_IN);
        this.handleSecMsg(header, payload);
        return;
      default:
        throw violation(`unexpected command ${JSON.stringify(header.cmd.slice(0, 16))}`, ErrorCode.MALFORMED_FRAME, { cmd: header.cmd.slice(0, 16) });
    }
  }

  private checkIdentity(header: ClientHeader): void {
    const session = this.session!;
    if (header.uuid !== session.account.uuid) {
      throw violation('frame header uuid differs from the bound uuid', ErrorCode.MALFORMED_FRAME, { cmd: header.cmd });
    }
    if (header.resource !== session.resource) {
      throw violation('frame header resource differs from the bound resource', ErrorCode.MALFORMED_FRAME, { cmd: header.cmd });
    }
  }

  private handleConn(unit: Uint8Array): void {
    const decoded = this.wire.decode(unit);
    if (decoded === null) throw violation('first frame must be CONN, got an empty frame');
    if (decoded.header.cmd !== Cmd.CONN) {
      throw violation(`first frame must be CONN, got ${JSON.stringify(decoded.header.cmd.slice(0, 16))}`);
    }
    const conn = decodeConn(decoded.payload);
    this.challenge = randomChallenge();
    // The CONN response is plaintext: the client has no key until it reads it.
    this.writer.write(this.wire.frame(serverHeader(Cmd.CONN, decoded.header.uuid, decoded.header.resource, this.core.nextId()), encodeConnResp(this.challenge)));
    this.wire.keyWith(this.challenge, conn.udid);
    this.state = 'handshaken';
    this.loginTimer?.refresh();
    if (this.core.log.isLevelEnabled('debug')) this.log.debug({ sdk: conn.sdk, version: conn.version, udidLength: conn.udid.length }, 'handshake done');
  }

  private handleBind(header: ClientHeader, payload: Uint8Array): void {
    const bind = decodeBind(payload);
    const reply = (r: Partial<BindResult> & { result: boolean }): void => {
      this.writer.write(this.wire.frame(serverHeader(Cmd.BIND, header.uuid, header.resource, header.id, DirFlag.SC_RESP), encodeBindResult(r)));
    };
    const lookup = this.core.store.lookupToken(bind.token);
    if (lookup.status === 'unknown') {
      this.log.info('BIND refused: unknown token');
      reply({ result: false, errorType: 'auto', errorReason: 'invalid-token', errorDesc: 'unknown token' });
      return;
    }
    const record = lookup.record;
    const account = record.account;
    if (header.uuid !== account.uuid) {
      reply({ result: false, errorType: 'auth', errorReason: 'invalid-uuid', errorDesc: 'header uuid does not belong to the token' });
      throw violation('BIND header uuid does not belong to the token', ErrorCode.LOGIN_REJECTED, { account: account.appAccount });
    }
    if (lookup.status === 'expired') {
      this.log.info({ account: account.appAccount }, 'BIND refused: token expired');
      reply({ result: false, errorType: 'token-expired', errorReason: 'token expired', errorDesc: 'please refresh token' });
      return;
    }
    if (header.resource.length === 0) {
      this.log.info({ account: account.appAccount }, 'BIND refused: empty resource');
      reply({ result: false, errorType: 'auth', errorReason: 'invalid-resource', errorDesc: 'resource must not be empty' });
      return;
    }
    if (bind.kick !== BIND_KICK && bind.kick !== BIND_KICK_OTHERS) {
      reply({ result: false, errorType: 'auth', errorReason: 'invalid-kick', errorDesc: 'kick must be "0" or "1"' });
      throw violation('BIND kick is neither "0" nor "1"', ErrorCode.LOGIN_REJECTED, { account: account.appAccount });
    }
    if (Buffer.byteLength(bind.clientAttrs) > MAX_BIND_ATTRS_BYTES || Buffer.byteLength(bind.cloudAttrs) > MAX_BIND_ATTRS_BYTES) {
      this.log.info({ account: account.appAccount }, 'BIND refused: attributes too long');
      reply({ result: false, errorType: 'auth', errorReason: 'invalid-attrs', errorDesc: `client and cloud attributes are limited to ${MAX_BIND_ATTRS_BYTES} bytes` });
      return;
    }
    const expected = bindSignature({
      method: bind.method,
      challenge: this.challenge,
      chid: header.chid,
      clientAttrs: bind.clientAttrs,
      cloudAttrs: bind.cloudAttrs,
      uuid: header.uuid,
      resource: header.resource,
      headerId: header.id,
      kick: bind.kick,
      server: header.server,
      token: bind.token,
      securityKey: record.securityKey,
    });
    if (!sameText(expected, bind.sig)) {
      this.log.info({ account: account.appAccount }, 'BIND refused: signature mismatch');
      reply({ result: false, errorType: 'auth', errorReason: 'invalid-sig', errorDesc: 'signature mismatch' });
      return;
    }
    if (this.session && (this.session.account !== account || this.session.resource !== header.resource)) this.unbind();
    this.session = {
      account,
      resource: header.resource,
      token: record,
      sso: bind.sso === true,
      kickOthers: bind.sso === true || bind.kick === BIND_KICK_OTHERS,
      clientAttrs: bind.clientAttrs,
      cloudAttrs: bind.cloudAttrs,
    };
    this.state = 'bound';
    this.link.setMaxBody(this.core.options.maxFrameBody);
    if (this.loginTimer) {
      clearTimeout(this.loginTimer);
      this.loginTimer = null;
    }
    this.core.register(this);
    reply({ result: true });
    if (this.core.log.isLevelEnabled('info')) this.log.info({ account: account.appAccount, resource: header.resource }, 'bound');
    // Everything stored and not acknowledged by this resource is (re)delivered.
    this.delivery.restart(account.ackedBy(header.resource), true);
    this.schedulePump();
  }

  private handleSecMsg(header: ClientHeader, payload: Uint8Array): void {
    const session = this.session!;
    const packet = this.wire.clientPacket(header, payload, session.token.securityKey);
    switch (packet.type) {
      case PacketType.P2P_MESSAGE:
      case PacketType.P2T_MESSAGE:
        this.handleMessage(packet);
        return;
      case PacketType.ONLINE_MESSAGE:
        this.handleOnlineMessage(packet);
        return;
      case PacketType.UC_PACKET:
        this.handleUc(packet);
        return;
      case PacketType.SEQUENCE_ACK: {
        const ack = decodeSequenceAck(packet.payload ?? new Uint8Array(0));
        this.checkListOwner(ack.uuid, ack.resource, 'SEQUENCE_ACK');
        if (ack.sequence > session.account.maxSequence) {
          throw violation('SEQUENCE_ACK for a sequence never assigned', ErrorCode.MALFORMED_FRAME, { sequence: ack.sequence.toString() });
        }
        session.account.ack(session.resource, ack.sequence);
        this.schedulePump();
        return;
      }
      case PacketType.PULL: {
        const pull = decodePullRequest(packet.payload ?? new Uint8Array(0));
        this.checkListOwner(pull.uuid, pull.resource, 'PULL');
        // Pull = "send me what I have not acknowledged", from the acknowledged point.
        this.delivery.restart(session.account.ackedBy(session.resource), false);
        this.schedulePump();
        return;
      }
      default:
        this.log.info({ type: packet.type }, 'unsupported MIMC packet type');
        this.sendAck(this.errorAck(packet.packetId, 400, `unsupported packet type ${packet.type}`));
    }
  }

  private checkListOwner(uuid: bigint, resource: string, what: string): void {
    const session = this.session!;
    if (uuid !== session.account.uuid || resource !== session.resource) {
      throw violation(`${what} names another (uuid, resource) than the bound one`);
    }
  }

  private handleMessage(packet: MimcPacket): void {
    if (packet.packetId.length === 0) throw violation('message packet without packetId');
    const payload = packet.payload ?? new Uint8Array(0);
    const result =
      packet.type === PacketType.P2P_MESSAGE
        ? this.core.routeP2P(this.session!, packet.packetId, decodeP2PMessage(payload), payload, packet.conversation === true)
        : this.core.routeP2T(this.session!, packet.packetId, decodeP2TMessage(payload), payload, packet.conversation === true);
    this.sendAck(this.packetAck(packet.packetId, result));
  }

  private handleOnlineMessage(packet: MimcPacket): void {
    if (packet.packetId.length === 0) throw violation('online message packet without packetId');
    const payload = packet.payload ?? new Uint8Array(0);
    const session = this.session!;
    const result = this.core.routeOnline(session, packet.packetId, decodeP2PMessage(payload), payload);
    if (this.core.faultState.dropAcks) return;
    const ack = encodeOnlineMessageAck({
      packetId: packet.packetId,
      uuid: session.account.uuid,
      resource: session.resource,
      code: result.code,
      errorMsg: result.errorMsg,
    });
    this.writer.writeDelayable(this.secMsgFrame(PacketType.ONLINE_MESSAGE_ACK, ack, DirFlag.SC_RESP));
  }

  // -------------------------------------------------------------------------------------------
  // Unlimited groups

  get ucIdentity(): { account: Account; resource: string } | null {
    return this.session ? { account: this.session.account, resource: this.session.resource } : null;
  }

  /** A downstream UCPacket addressed to this session (`user` = the recipient), in its own SECMSG. */
  sendUc(type: number, payload: Uint8Array, delayable: boolean, packetId?: string): void {
    const session = this.session;
    if (!session || this.state === 'closed') return;
    const id = packetId ?? this.core.nextId();
    const user = this.core.authenticatedSender(session); // downstream, UCPacket.user names the recipient
    const frame = this.secMsgFrame(PacketType.UC_PACKET, encodeUcPacket({ user, type, payload, packetId: id }), DirFlag.SC_ONEWAY, id);
    if (delayable) this.writer.writeDelayable(frame);
    else this.writer.write(frame);
  }

  private handleUc(packet: MimcPacket): void {
    const session = this.session!;
    const uc = decodeUcPacket(packet.payload ?? new Uint8Array(0));
    if (uc.packetId !== packet.packetId || uc.packetId.length === 0) throw violation('UC packet id differs from its MIMC packet id, or is empty');
    if (uc.user.appAccount !== session.account.appAccount || (uc.user.uuid !== undefined && uc.user.uuid !== session.account.uuid)) {
      throw violation('UC packet names another user than the bound one');
    }
    const unlimited = this.core.unlimited;
    const appId = this.core.app.appId;
    switch (uc.type) {
      case UcType.PING:
        this.core.stats.ucPings++;
        this.sendUc(UcType.PONG, encodeUcPing(decodeUcPing(uc.payload)), false, uc.packetId);
        return;
      case UcType.JOIN:
      case UcType.QUIT: {
        const group = decodeUcGroupRequest(uc.payload);
        const joining = uc.type === UcType.JOIN;
        const code = group.appId !== appId ? AckCode.NOT_FOUND : joining ? unlimited.join(this, group.topicId) : unlimited.quit(this, group.topicId);
        const message = code === AckCode.OK ? 'success' : code === AckCode.NOT_FOUND ? 'unlimited group not found' : 'not a member of the unlimited group';
        this.sendUc(joining ? UcType.JOIN_RESP : UcType.QUIT_RESP, encodeUcGroupResponse({ group, code, message }), false, uc.packetId);
        const joined = joining && code === AckCode.OK ? unlimited.group(group.topicId) : undefined;
        if (joined) unlimited.pump(this, joined);
        return;
      }
      case UcType.SEQ_ACK: {
        const ack = decodeUcSequenceAck(uc.payload);
        if (!unlimited.ack(this, ack.group.topicId, ack.sequence)) {
          throw violation('UC SEQ_ACK for a sequence never assigned', ErrorCode.MALFORMED_FRAME, { sequence: ack.sequence.toString() });
        }
        return;
      }
      case UcType.MESSAGE: {
        const message = decodeUcMessage(uc.payload);
        const result = unlimited.send(this, message, this.core.authenticatedSender(session), UC_MAX_PAYLOAD_BYTES);
        this.sendAck(this.packetAck(packet.packetId, result));
        return;
      }
      case UcType.QUERY_ONLINE_USERS: {
        const group = decodeUcGroupRequest(uc.payload);
        const found = group.appId === appId ? unlimited.group(group.topicId) : undefined;
        const userCount = BigInt(found ? unlimited.onlineCount(found) : 0);
        this.sendUc(UcType.QUERY_ONLINE_USERS_RESP, encodeUcOnlineUsers({ group, userCount }), false, uc.packetId);
        return;
      }
      default:
        throw violation(`UC packet of a type a client does not send (${uc.type})`);
    }
  }

  private errorAck(packetId: string, code: number, errorMsg: string): PacketAck {
    return this.packetAck(packetId, { sequence: 0n, timestamp: BigInt(Date.now()), errorMsg, code });
  }

  /** The PACKET_ACK telling this session what became of its message `packetId`. */
  private packetAck(packetId: string, result: RouteResult): PacketAck {
    const session = this.session!;
    return {
      packetId,
      uuid: session.account.uuid,
      resource: session.resource,
      sequence: result.sequence,
      timestamp: result.timestamp,
      package: this.core.app.appPackage,
      errorMsg: result.errorMsg,
      code: result.code,
      convIndex: result.convIndex, // undefined is left out of the encoding
    };
  }

  // -------------------------------------------------------------------------------------------
  // Outbound

  /** A downstream SECMSG; the packet id defaults to the (fresh) header id. */
  private secMsgFrame(type: number, payload: Uint8Array, dirFlag: number, packetId?: string, timestamp?: bigint): Uint8Array {
    const session = this.session!;
    const id = this.core.nextId();
    const packet: MimcPacket = { packetId: packetId ?? id, package: this.core.app.appPackage, type, payload, timestamp: timestamp ?? BigInt(Date.now()) };
    const header = serverHeader(Cmd.SECMSG, session.account.uuid, session.resource, id, dirFlag);
    // Payload key: the recipient's own security key and the id of this downstream header.
    return this.wire.secMsg(header, packet, session.token.securityKey);
  }

  private sendAck(ack: PacketAck): void {
    if (this.core.faultState.dropAcks) return;
    this.writer.writeDelayable(this.secMsgFrame(PacketType.PACKET_ACK, encodePacketAck(ack), DirFlag.SC_RESP));
  }

  /** Sends KICK with `result`; the session is unbound and, if `close`, the connection ended. */
  kick(result: Omit<BindResult, 'result'>, close: boolean): void {
    const session = this.session;
    if (!session || this.state === 'closed') return;
    const header = serverHeader(Cmd.KICK, session.account.uuid, session.resource, this.core.nextId(), DirFlag.SC_ONEWAY);
    this.writer.write(this.wire.frame(header, encodeBindResult({ result: false, ...result })), true);
    this.log.info({ account: session.account.appAccount, resource: session.resource, errorType: result.errorType }, 'kicked');
    this.unbind();
    if (close) this.close(`kicked: ${result.errorType}`, { graceful: true });
  }

  /** Writes a frame head announcing a body over 16 MiB; nothing is written afterwards. */
  sendOversizedHead(): void {
    if (this.state === 'closed') return;
    this.writer.writeOversizedHead();
    this.log.info('fault: oversized frame head sent; connection left for the client to close');
  }

  // -------------------------------------------------------------------------------------------
  // Delivery

  /** A message for this connection's session: stored ones are read from the store by the pump. */
  offer(d: Delivery, stored: boolean): void {
    if (this.state !== 'bound') return;
    if (!stored) this.core.stats.messagesDropped += this.delivery.offerLive(d);
    this.schedulePump();
  }

  /**
   * An online message (type 11) for this session: written at once as its own SECMSG, not in a
   * COMPOUND, without sequence, never queued for later. The packet id is the sender's.
   */
  sendOnlineMessage(packetId: string, payload: Uint8Array, timestamp: bigint): void {
    if (this.state !== 'bound' || this.writer.poisoned) return;
    this.writer.writeDelayable(this.secMsgFrame(PacketType.ONLINE_MESSAGE, payload, DirFlag.SC_ONEWAY, packetId, timestamp));
  }

  /** Runs the pump once, after the current burst of routing (coalescing many messages into one COMPOUND). */
  schedulePump(): void {
    if (this.pumpScheduled || this.state !== 'bound') return;
    this.pumpScheduled = true;
    this.pumpHandle = setImmediate(() => {
      this.pumpHandle = null;
      this.pumpScheduled = false;
      try {
        this.pump();
      } catch (err) {
        // A bug here must cost this connection only, never the process.
        this.log.error({ err: err instanceof Error ? err.message : String(err) }, 'delivery failed, closing connection');
        this.close('internal delivery error');
      }
    });
  }

  /**
   * Sends COMPOUND batches in sequence order: stored messages past the cursor and queued live
   * ones. At most compoundBatchSize * maxUnackedBatches stored messages may be unacknowledged on
   * the wire; beyond that the rest follows the SEQUENCE_ACK or PULL (a batch with more waiting
   * says status 2).
   * Nothing is sent while the socket is not draining.
   */
  private pump(): void {
    const session = this.session;
    if (this.state !== 'bound' || !session || this.writer.poisoned || this.core.faultState.isStalled(session.account.appAccount)) return;
    while (!this.writer.blocked && this.state === 'bound') {
      const batch = this.delivery.next(session.account, session.resource);
      if (!batch) break;
      this.sendCompound(batch.items, batch.more);
      if (batch.windowFull) break;
    }
    // Deliveries are the latency that matters: they leave now, not after the turn's acks.
    this.writer.flush();
  }

  private sendCompound(items: Delivery[], more: boolean): void {
    const session = this.session!;
    const appPackage = this.core.app.appPackage;
    const list = encodePacketList({
      uuid: session.account.uuid,
      resource: session.resource,
      maxSequence: items[items.length - 1]!.sequence,
      packets: items.map((d) => ({
        packetId: d.packetId,
        package: appPackage,
        sequence: d.sequence,
        type: d.type,
        payload: d.payload,
        timestamp: d.timestamp,
        convIndex: d.convIndex, // undefined is left out of the encoding
      })),
      status: more ? PushStatus.EXCEED_COUNT_LIMIT : PushStatus.NORMAL,
    });
    this.writer.writeDelayable(this.secMsgFrame(PacketType.COMPOUND, list, DirFlag.SC_ONEWAY));
  }

  // -------------------------------------------------------------------------------------------
  // Teardown

  /** Leaves the bound state (UBND, KICK, re-BIND as someone else); the socket stays open. */
  unbind(): void {
    if (!this.session) return;
    this.core.unregister(this);
    this.core.unlimited.peerGone(this);
    this.session = null;
    this.delivery.clearLive();
    if (this.state === 'bound') {
      this.state = 'handshaken';
      this.link.setMaxBody(this.preBindLimit);
    }
  }

  /** A protocol violation: log the error code, count it, close this connection only. */
  private reject(err: unknown): void {
    if (MIMCError.is(err)) {
      this.log.warn({ code: err.code, reason: err.message, details: err.details }, 'protocol violation, closing connection');
    } else {
      this.log.error({ err: err instanceof Error ? err.message : String(err) }, 'internal error while handling a frame, closing connection');
    }
    this.core.stats.rejectedFrames++;
    this.violation = err;
    this.close('protocol violation');
  }

  /**
   * Closes the connection; `graceful` flushes queued bytes and sends FIN, destroying the socket
   * when the peer closes or after a grace period. Until then the connection still counts as open
   * (and shutdown still destroys it).
   */
  close(reason: string, options: { graceful?: boolean } = {}): void {
    if (this.state === 'closed') return;
    this.log.info({ reason }, 'closing connection');
    this.unbind();
    this.state = 'closed';
    this.clearTimers();
    // Hand anything written this tick (e.g. a BIND refusal before a rejection) to the kernel first.
    this.writer.dispose();
    if (options.graceful && !this.link.destroyed) {
      this.link.end();
      this.closeTimer = setTimeout(() => this.finish(), GRACEFUL_CLOSE_MS);
    } else {
      this.finish();
    }
  }

  /** Destroys the socket and forgets the connection; idempotent. */
  private finish(): void {
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.closeTimer = null;
    this.link.destroy(this.violation);
    this.core.connectionGone(this);
  }

  private clearTimers(): void {
    clearTimeout(this.idleTimer);
    if (this.loginTimer) clearTimeout(this.loginTimer);
    this.loginTimer = null;
    if (this.pumpHandle) clearImmediate(this.pumpHandle);
    this.pumpHandle = null;
    this.pumpScheduled = false;
  }

  private onLinkClosed(): void {
    this.close('connection closed');
    this.finish();
  }

  /** Immediate teardown for emulator shutdown / restart and dropConnections. */
  destroy(reason: string): void {
    this.close(reason);
    this.finish();
  }
}
