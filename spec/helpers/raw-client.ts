/**
 * A raw MIMC protocol client for tests: frames are built and parsed with lib/protocol only
 * (no SDK), so tests control every byte. Every received frame lands in an inbox; `next()`
 * awaits the first frame matching a predicate (already received or still to come) with a
 * timeout, without polling. Frames that do not match stay in the inbox.
 */
import { UcType, decodeUcPacket, encodeUcMessage, encodeUcPacket, type UcPacket } from '../../lib/protocol/uc.js';
import { connect, type Socket } from 'node:net';
import {
  BIND_KICK,
  BIND_METHOD,
  CHID,
  Cmd,
  CONN_OS,
  CONN_SDK,
  CONN_VERSION,
  EMPTY_FRAME,
  FrameDecoder,
  MIMCError,
  PacketType,
  Rc4,
  SERVER,
  bindSignature,
  clientHeader,
  decodeBindResult,
  decodeBody,
  decodeConnResp,
  decodeP2PMessage,
  decodeP2TMessage,
  decodePacketAck,
  decodePacketList,
  decodeSecMsgPayload,
  deriveBodyKey,
  encodeBind,
  encodeConn,
  encodeP2PMessage,
  encodeP2TMessage,
  encodePullRequest,
  encodeSecMsgFrame,
  encodeSequenceAck,
  encodeV6Frame,
  type BindResult,
  type ClientHeader,
  type MimcPacket,
  type P2PMessage,
  type P2TMessage,
  type PacketAck,
  type DecodedBody,
  type PacketList,
} from '../../lib/protocol/index.js';

/** The fields of the token-service JSON a client needs. */
export interface RawToken {
  appId: bigint;
  appAccount: string;
  appPackage: string;
  uuid: bigint;
  securityKey: string;
  token: string;
}

/** Parses the token-service JSON body (ids are decimal strings there). */
export function parseToken(json: string): RawToken {
  const body = JSON.parse(json) as { code: number; message: string; data: Record<string, unknown> | null };
  if (body.code !== 200 || !body.data) throw new Error(`token service refused: ${body.code} ${body.message}`);
  const d = body.data;
  return {
    appId: BigInt(d.appId as string),
    appAccount: d.appAccount as string,
    appPackage: d.appPackage as string,
    uuid: BigInt(d.miUserId as string),
    securityKey: d.miUserSecurityKey as string,
    token: d.token as string,
  };
}

/** One message inside a COMPOUND, with its inner P2P/P2T message decoded. */
export interface InnerMessage {
  packetId: string;
  sequence: bigint;
  timestamp: bigint;
  type: number;
  p2p?: P2PMessage;
  p2t?: P2TMessage;
}

export interface ReceivedFrame {
  /** The empty frame (pong). */
  empty: boolean;
  header: ClientHeader | null;
  /** Payload after body decryption; for SECMSG still payload-encrypted (see `packet`). */
  payload: Uint8Array;
  /** SECMSG: the decrypted MIMCPacket. */
  packet?: MimcPacket;
  /** SECMSG PACKET_ACK. */
  ack?: PacketAck;
  /** SECMSG COMPOUND. */
  list?: PacketList;
  /** BIND response or KICK payload. */
  bind?: BindResult;
}

export type FramePredicate = (f: ReceivedFrame) => boolean;

export const isPong: FramePredicate = (f) => f.empty;
export const isCmd =
  (cmd: string): FramePredicate =>
  (f) =>
    f.header?.cmd === cmd;
export const isAck =
  (packetId?: string): FramePredicate =>
  (f) =>
    f.ack !== undefined && (packetId === undefined || f.ack.packetId === packetId);
export const isCompound: FramePredicate = (f) => f.list !== undefined;

interface Waiter {
  match: FramePredicate;
  what: string;
  resolve(frame: ReceivedFrame): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/** A decoded frame body as the raw clients keep it: BIND/KICK results and SECMSG packets parsed. */
export function parseFrame(decoded: DecodedBody | null, securityKey: string | null): ReceivedFrame {
  if (!decoded) return { empty: true, header: null, payload: new Uint8Array(0) };
  const frame: ReceivedFrame = { empty: false, header: decoded.header, payload: decoded.payload };
  const cmd = decoded.header.cmd;
  if (cmd === Cmd.BIND || cmd === Cmd.KICK) frame.bind = decodeBindResult(decoded.payload);
  if (cmd === Cmd.SECMSG && securityKey) {
    // server payloads are under the payload key on both transports
    const packet = decodeSecMsgPayload(decoded.header, decoded.payload, securityKey);
    frame.packet = packet;
    if (packet.type === PacketType.PACKET_ACK) frame.ack = decodePacketAck(packet.payload ?? new Uint8Array(0));
    if (packet.type === PacketType.COMPOUND) frame.list = decodePacketList(packet.payload ?? new Uint8Array(0));
  }
  return frame;
}

/**
 * Received frames and the tests waiting for them: a frame goes to the first waiter it matches,
 * or into `frames`; `next()` looks in `frames` first. Shared by the TCP and WebSocket raw clients.
 */
export class FrameInbox {
  readonly frames: ReceivedFrame[] = [];
  private readonly waiters = new Set<Waiter>();
  private closedBecause: string | null = null;

  deliver(frame: ReceivedFrame): void {
    for (const w of this.waiters) {
      if (w.match(frame)) {
        this.waiters.delete(w);
        clearTimeout(w.timer);
        w.resolve(frame);
        return;
      }
    }
    this.frames.push(frame);
  }

  /** The first frame matching `match`; rejects on timeout or once the connection closed. */
  next(match: FramePredicate, what: string, timeoutMs: number): Promise<ReceivedFrame> {
    const index = this.frames.findIndex(match);
    if (index >= 0) return Promise.resolve(this.frames.splice(index, 1)[0]!);
    if (this.closedBecause !== null) return Promise.reject(new Error(`connection closed${this.closedBecause} before ${what}`));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        match,
        what,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          const seen = this.frames.map((f) => (f.empty ? 'pong' : `${f.header?.cmd}${f.packet ? `/${f.packet.type}` : ''}`)).join(',');
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; inbox: [${seen}]`));
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  /** Removes and returns every frame matching `match`. */
  take(match: FramePredicate): ReceivedFrame[] {
    const taken: ReceivedFrame[] = [];
    for (let i = 0; i < this.frames.length; ) {
      if (match(this.frames[i]!)) taken.push(...this.frames.splice(i, 1));
      else i++;
    }
    return taken;
  }

  /** The connection closed (`because`, e.g. " (ERR_BAD_CHECKSUM)"): every waiter and later `next()` rejects. */
  close(because: string): void {
    this.closedBecause = because;
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new Error(`connection closed${because} while waiting for ${w.what}`));
    }
    this.waiters.clear();
  }
}

/** BIND fields a test may set; the signature is computed over them unless `sig` is given. */
export interface BindFrameOptions {
  sig?: string;
  id?: string;
  uuid?: bigint;
  kick?: string;
  sso?: boolean;
  clientAttrs?: string;
  cloudAttrs?: string;
}

export interface RawClientOptions {
  host?: string;
  /** Client-side cap on inbound frame bodies; default 1 MiB. */
  maxFrameBody?: number;
  /** Default wait of next(); default 5000 ms. */
  timeoutMs?: number;
  /** Keep our side open when the server ends its side (a peer that ignores FIN). */
  allowHalfOpen?: boolean;
}

/** What both raw clients share: the inbox of received frames and the ways to wait on it. */
export abstract class InboxPeer {
  protected readonly mail = new FrameInbox();

  constructor(protected readonly timeoutMs: number) {}

  /** Frames received and not yet taken by `next()` or `take()`. */
  get inbox(): ReceivedFrame[] {
    return this.mail.frames;
  }

  /** The first frame matching `match`, from the inbox or the wire; rejects on timeout or close. */
  next(match: FramePredicate = () => true, what = 'a frame', timeoutMs = this.timeoutMs): Promise<ReceivedFrame> {
    return this.mail.next(match, what, timeoutMs);
  }

  async nextAck(packetId?: string, timeoutMs?: number): Promise<PacketAck> {
    return (await this.next(isAck(packetId), `PACKET_ACK ${packetId ?? ''}`, timeoutMs)).ack!;
  }

  async nextCompound(timeoutMs?: number): Promise<PacketList> {
    return (await this.next(isCompound, 'COMPOUND', timeoutMs)).list!;
  }
}

export class RawClient extends InboxPeer {
  /** Set when the client rejected an inbound frame (bad checksum, oversized...); the socket is then destroyed. */
  decodeError: MIMCError | null = null;
  /** Resolves when the socket has closed. */
  readonly closed: Promise<void>;
  isClosed = false;
  bodyKey: Rc4 | null = null;
  challenge = '';
  uuid = 0n;
  resource = '';
  token: RawToken | null = null;
  /** Security key used to decrypt inbound SECMSG; set when BIND is sent (frames may follow the reply at once). */
  securityKey: string | null = null;
  private readonly decoder: FrameDecoder;
  private counter = 0;

  private constructor(
    readonly socket: Socket,
    options: RawClientOptions,
  ) {
    super(options.timeoutMs ?? 5000);
    this.decoder = new FrameDecoder({ maxBodyLength: options.maxFrameBody ?? 1024 * 1024 });
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.isClosed = true;
        this.mail.close(this.decodeError ? ` (${this.decodeError.code})` : '');
        resolve();
      });
    });
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
  }

  static connect(port: number, options: RawClientOptions = {}): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: options.host ?? '127.0.0.1', port, noDelay: true, allowHalfOpen: options.allowHalfOpen ?? false });
      socket.once('connect', () => {
        socket.removeListener('error', reject);
        resolve(new RawClient(socket, options));
      });
      socket.once('error', reject);
    });
  }

  // -------------------------------------------------------------------------------------------
  // Receiving

  private onData(chunk: Buffer): void {
    let bodies: Uint8Array[];
    try {
      bodies = this.decoder.push(chunk);
    } catch (err) {
      this.decodeError = err as MIMCError;
      this.socket.destroy();
      return;
    }
    for (const body of bodies) {
      let frame: ReceivedFrame;
      try {
        frame = this.parse(body);
      } catch (err) {
        this.decodeError = err as MIMCError;
        this.socket.destroy();
        return;
      }
      this.mail.deliver(frame);
    }
  }

  private parse(body: Uint8Array): ReceivedFrame {
    return parseFrame(decodeBody(body, this.bodyKey), this.securityKey);
  }

  async nextKick(timeoutMs?: number): Promise<BindResult> {
    return (await this.next(isCmd(Cmd.KICK), 'KICK', timeoutMs)).bind!;
  }

  async nextPong(timeoutMs?: number): Promise<void> {
    await this.next(isPong, 'pong', timeoutMs);
  }

  /** Resolves when the server closed the connection; rejects if it is still open after `timeoutMs`. */
  waitClosed(timeoutMs = this.timeoutMs): Promise<void> {
    if (this.isClosed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`connection still open after ${timeoutMs} ms`)), timeoutMs);
      void this.closed.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Removes and returns every inbox frame matching `match`. */
  take(match: FramePredicate): ReceivedFrame[] {
    return this.mail.take(match);
  }

  // -------------------------------------------------------------------------------------------
  // Sending

  nextId(): string {
    return `${this.resource || 'raw'}_${++this.counter}`;
  }

  send(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** CONN handshake: sends CONN, awaits the plaintext reply, derives the body key. */
  async conn(options: { uuid?: bigint; resource?: string; udid?: string; timeoutMs?: number } = {}): Promise<string> {
    if (options.uuid !== undefined) this.uuid = options.uuid;
    if (options.resource !== undefined) this.resource = options.resource;
    const udid = options.udid ?? '';
    const payload = encodeConn({ version: CONN_VERSION, os: CONN_OS, udid, sdk: CONN_SDK });
    this.send(encodeV6Frame(clientHeader(Cmd.CONN, this.uuid, this.resource, this.nextId()), payload, null));
    const reply = await this.next(isCmd(Cmd.CONN), 'CONN response', options.timeoutMs);
    this.challenge = decodeConnResp(reply.payload).challenge;
    this.bodyKey = new Rc4(deriveBodyKey(this.challenge, udid));
    return this.challenge;
  }

  /** Builds a BIND frame for `token`; `sig` overrides the computed signature. */
  bindFrame(token: RawToken, options: BindFrameOptions = {}): Uint8Array {
    const kick = options.kick ?? BIND_KICK;
    const clientAttrs = options.clientAttrs ?? '';
    const cloudAttrs = options.cloudAttrs ?? '';
    const id = options.id ?? this.nextId();
    const uuid = options.uuid ?? token.uuid;
    const sig =
      options.sig ??
      bindSignature({
        method: BIND_METHOD,
        challenge: this.challenge,
        chid: CHID,
        clientAttrs,
        cloudAttrs,
        uuid,
        resource: this.resource,
        headerId: id,
        kick,
        server: SERVER,
        token: token.token,
        securityKey: token.securityKey,
      });
    const payload = encodeBind({ token: token.token, kick, method: BIND_METHOD, clientAttrs, cloudAttrs, sig, sso: options.sso });
    return encodeV6Frame(clientHeader(Cmd.BIND, uuid, this.resource, id), payload, this.bodyKey);
  }

  /** Sends BIND and returns the BIND response. On success the client adopts the token's identity. */
  async bind(token: RawToken, options: BindFrameOptions = {}): Promise<BindResult> {
    this.securityKey = token.securityKey;
    this.send(this.bindFrame(token, options));
    const reply = await this.next(isCmd(Cmd.BIND), 'BIND response');
    if (reply.bind!.result) {
      this.token = token;
      this.uuid = token.uuid;
    }
    return reply.bind!;
  }

  /** Header-form PING (Go style); await the pong with nextPong(). */
  sendPing(): void {
    this.send(encodeV6Frame(clientHeader(Cmd.PING, this.uuid, this.resource, this.nextId()), new Uint8Array(0), this.bodyKey));
  }

  /** Round trip: PING then the pong. Useful as a barrier: the server handled everything sent before. */
  async ping(timeoutMs?: number): Promise<void> {
    this.sendPing();
    await this.nextPong(timeoutMs);
  }

  /** UBND, then await the server's empty-frame reply. */
  async unbind(): Promise<void> {
    this.send(encodeV6Frame(clientHeader(Cmd.UBND, this.uuid, this.resource, this.nextId()), new Uint8Array(0), this.bodyKey));
    await this.nextPong();
  }

  /** A SECMSG carrying `packet`, payload-encrypted with this client's security key. */
  sendPacket(packet: MimcPacket, headerId = packet.packetId): void {
    this.send(this.packetFrame(packet, headerId));
  }

  /** The SECMSG frame sendPacket would write, for tests that tamper with it. */
  packetFrame(packet: MimcPacket, headerId = packet.packetId): Uint8Array {
    if (!this.token || !this.bodyKey) throw new Error('a SECMSG needs a bound client');
    return encodeSecMsgFrame(clientHeader(Cmd.SECMSG, this.uuid, this.resource, headerId), packet, this.token.securityKey, this.bodyKey);
  }

  private fromRef(): P2PMessage['from'] {
    return { appId: this.token!.appId, appAccount: this.token!.appAccount, uuid: this.uuid, resource: this.resource };
  }

  /** Sends a P2P message; returns its packet id. */
  sendP2P(toAccount: string, payload: Uint8Array | string, options: { isStore?: boolean; toResource?: string; bizType?: string; from?: P2PMessage['from']; conversation?: boolean } = {}): string {
    const token = this.token!;
    const packetId = this.nextId();
    const message: P2PMessage = {
      from: options.from ?? this.fromRef(),
      to: { appId: token.appId, appAccount: toAccount, uuid: 0n, resource: options.toResource ?? '' },
      payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
      isStore: options.isStore ?? true,
    };
    if (options.bizType !== undefined) message.bizType = options.bizType;
    const packet: MimcPacket = { packetId, package: token.appPackage, type: PacketType.P2P_MESSAGE, payload: encodeP2PMessage(message) };
    if (options.conversation !== undefined) packet.conversation = options.conversation;
    this.sendPacket(packet);
    return packetId;
  }

  /** Sends a P2T message; returns its packet id. */
  sendP2T(topicId: bigint, payload: Uint8Array | string, options: { isStore?: boolean; conversation?: boolean } = {}): string {
    const token = this.token!;
    const packetId = this.nextId();
    const message: P2TMessage = {
      from: this.fromRef(),
      to: { appId: token.appId, topicId },
      payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
      isStore: options.isStore ?? true,
    };
    const packet: MimcPacket = { packetId, package: token.appPackage, type: PacketType.P2T_MESSAGE, payload: encodeP2TMessage(message) };
    if (options.conversation !== undefined) packet.conversation = options.conversation;
    this.sendPacket(packet);
    return packetId;
  }

  /** Sends a UCPacket of `type` (the packet id is shared by MIMCPacket and UCPacket); returns the id. */
  sendUc(type: number, payload: Uint8Array, options: { packetId?: string; ucPacketId?: string; user?: P2PMessage['from'] } = {}): string {
    const token = this.token!;
    const packetId = options.packetId ?? this.nextId();
    const uc = encodeUcPacket({ user: options.user ?? this.fromRef(), type, payload, packetId: options.ucPacketId ?? packetId });
    this.sendPacket({ packetId, package: token.appPackage, type: PacketType.UC_PACKET, payload: uc });
    return packetId;
  }

  /** Sends a UC MESSAGE to `topicId`; returns its packet id (the PACKET_ACK carries it). */
  sendUcMessage(topicId: bigint, payload: Uint8Array | string, options: { isStore?: boolean } = {}): string {
    const packetId = this.nextId();
    const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
    const message = encodeUcMessage({ group: { appId: this.token!.appId, topicId }, payload: body, isStore: options.isStore ?? true, packetId, user: this.fromRef() });
    return this.sendUc(UcType.MESSAGE, message, { packetId });
  }

  /** The next downstream UCPacket of `type`. */
  async nextUc(type: number, timeoutMs?: number): Promise<UcPacket> {
    const frame = await this.next((f) => f.packet?.type === PacketType.UC_PACKET && decodeUcPacket(f.packet.payload!).type === type, `UC packet ${type}`, timeoutMs);
    return decodeUcPacket(frame.packet!.payload!);
  }

  /** SEQUENCE_ACK for `sequence` (single direction: the server does not answer). */
  sendSequenceAck(sequence: bigint, options: { uuid?: bigint; resource?: string } = {}): void {
    const token = this.token!;
    const payload = encodeSequenceAck({ uuid: options.uuid ?? this.uuid, resource: options.resource ?? this.resource, sequence, appId: token.appId });
    this.sendPacket({ packetId: this.nextId(), package: token.appPackage, type: PacketType.SEQUENCE_ACK, sequence, payload });
  }

  /** Acknowledges a received COMPOUND (its maxSequence). */
  ackList(list: PacketList): void {
    this.sendSequenceAck(list.maxSequence);
  }

  sendPull(): void {
    const token = this.token!;
    this.sendPacket({
      packetId: this.nextId(),
      package: token.appPackage,
      type: PacketType.PULL,
      payload: encodePullRequest({ uuid: this.uuid, resource: this.resource, appId: token.appId }),
    });
  }

  /** The C++-style ping: an empty frame. */
  sendEmptyFrame(): void {
    this.send(EMPTY_FRAME);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Decodes the inner messages of a COMPOUND list. */
export function innerMessages(list: PacketList): InnerMessage[] {
  return list.packets.map((p) => {
    const m: InnerMessage = { packetId: p.packetId, sequence: p.sequence ?? 0n, timestamp: p.timestamp ?? 0n, type: p.type };
    const payload = p.payload ?? new Uint8Array(0);
    if (p.type === PacketType.P2P_MESSAGE) m.p2p = decodeP2PMessage(payload);
    if (p.type === PacketType.P2T_MESSAGE) m.p2t = decodeP2TMessage(payload);
    return m;
  });
}

/** What the helpers need from an emulator (structural, so the helper does not import it). */
export interface RawServer {
  frontend: { host: string; port: number };
  fetchToken(appAccount: string): Promise<string>;
}

/** Connects, handshakes and binds `appAccount` as `resource`; throws if BIND fails. */
export async function loginRaw(server: RawServer, appAccount: string, resource: string, options: RawClientOptions & { udid?: string } = {}): Promise<RawClient> {
  const token = parseToken(await server.fetchToken(appAccount));
  const client = await RawClient.connect(server.frontend.port, options);
  try {
    await client.conn({ uuid: token.uuid, resource, udid: options.udid ?? '' });
    const result = await client.bind(token);
    if (!result.result) throw new Error(`BIND refused: ${result.errorType}/${result.errorReason}`);
  } catch (err) {
    client.close();
    throw err;
  }
  return client;
}
