/**
 * The raw client of spec/helpers/raw-client.ts over WebSocket: the WebJS framing (one frame per
 * binary message, no body cipher, client SECMSG payloads plain), built and parsed with
 * lib/protocol only, so tests control every byte — and can also send text messages and bytes
 * under the WebSocket layer. The subset of RawClient's API that the fuzzers and health checks
 * use, with the same inbox and `next()` semantics, so both serve in the same code.
 */
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import {
  BIND_KICK,
  BIND_METHOD,
  CHID,
  Cipher,
  Cmd,
  CONN_VERSION,
  ErrorCode,
  MIMCError,
  PacketType,
  SERVER,
  WS_CONN_SDK,
  WS_CONN_UDID,
  bindSignature,
  clientHeader,
  decodeConnResp,
  decodeWsFrame,
  encodeBind,
  encodeConn,
  encodeMimcPacket,
  encodeP2PMessage,
  encodeSequenceAck,
  encodeWsFrame,
  type MimcPacket,
  type PacketList,
  type Rc4,
} from '../../lib/protocol/index.js';
import { InboxPeer, parseFrame, parseToken, type RawServer, type RawToken, type ReceivedFrame } from './raw-client.js';

export class RawWsClient extends InboxPeer {
  /** Set when an inbound message was not a valid frame; the connection is then terminated. */
  decodeError: MIMCError | null = null;
  readonly closed: Promise<void>;
  isClosed = false;
  /** The close code the server sent (1006 when the connection just ended). */
  closeCode: number | null = null;
  /** No body cipher over WebSocket; here so frame contexts read the same as RawClient's. */
  readonly bodyKey: Rc4 | null = null;
  challenge = '';
  uuid = 0n;
  resource = '';
  token: RawToken | null = null;
  securityKey: string | null = null;
  private counter = 0;

  private constructor(
    readonly ws: WebSocket,
    timeoutMs: number,
  ) {
    super(timeoutMs);
    this.closed = new Promise((resolve) => {
      ws.on('close', (code: number) => {
        this.isClosed = true;
        this.closeCode = code;
        this.mail.close(` (${code})`);
        resolve();
      });
    });
    ws.on('error', () => undefined); // 'close' follows
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      if (!isBinary) {
        this.decodeError = new MIMCError(ErrorCode.MALFORMED_FRAME, 'text message from the server');
        ws.terminate();
        return;
      }
      const message = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      let frame: ReceivedFrame;
      try {
        frame = this.parse(message);
      } catch (err) {
        this.decodeError = err as MIMCError;
        ws.terminate();
        return;
      }
      this.mail.deliver(frame);
    });
  }

  static connect(url: string, options: { timeoutMs?: number } = {}): Promise<RawWsClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      ws.once('open', () => {
        ws.off('error', reject);
        resolve(new RawWsClient(ws, options.timeoutMs ?? 5000));
      });
      ws.once('error', reject);
    });
  }

  private parse(message: Uint8Array): ReceivedFrame {
    return parseFrame(decodeWsFrame(message), this.securityKey);
  }

  nextId(): string {
    return `${this.resource || 'rawws'}_${++this.counter}`;
  }

  /** One binary message. */
  send(bytes: Uint8Array): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(bytes, { binary: true });
  }

  /** One text message (the bytes as they are, valid UTF-8 or not). */
  sendText(bytes: Uint8Array): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(bytes, { binary: false });
  }

  /** Bytes written on the socket under the WebSocket layer (ws has no public way to do it). */
  sendRaw(bytes: Uint8Array): void {
    const socket = (this.ws as unknown as { _socket: Socket | null })._socket;
    if (socket && !socket.destroyed) socket.write(bytes);
  }

  /** CONN as mimc.js sends it; resolves with the challenge. */
  async conn(options: { uuid?: bigint; resource?: string; timeoutMs?: number } = {}): Promise<string> {
    if (options.uuid !== undefined) this.uuid = options.uuid;
    if (options.resource !== undefined) this.resource = options.resource;
    const payload = encodeConn({ version: CONN_VERSION, os: 'test', udid: WS_CONN_UDID, sdk: WS_CONN_SDK });
    this.send(encodeWsFrame(clientHeader(Cmd.CONN, this.uuid, this.resource, this.nextId()), payload));
    const reply = await this.next((f) => f.header?.cmd === Cmd.CONN, 'CONN response', options.timeoutMs);
    this.challenge = decodeConnResp(reply.payload).challenge;
    return this.challenge;
  }

  bindFrame(token: RawToken, id = this.nextId()): Uint8Array {
    const sig = bindSignature({
      method: BIND_METHOD,
      challenge: this.challenge,
      chid: CHID,
      clientAttrs: '',
      cloudAttrs: '',
      uuid: token.uuid,
      resource: this.resource,
      headerId: id,
      kick: BIND_KICK,
      server: SERVER,
      token: token.token,
      securityKey: token.securityKey,
    });
    const payload = encodeBind({ token: token.token, kick: BIND_KICK, method: BIND_METHOD, clientAttrs: '', cloudAttrs: '', sig });
    return encodeWsFrame(clientHeader(Cmd.BIND, token.uuid, this.resource, id), payload);
  }

  async bind(token: RawToken): Promise<boolean> {
    this.securityKey = token.securityKey;
    this.send(this.bindFrame(token));
    const reply = await this.next((f) => f.header?.cmd === Cmd.BIND, 'BIND response');
    if (reply.bind!.result) {
      this.token = token;
      this.uuid = token.uuid;
    }
    return reply.bind!.result;
  }

  /** Round trip: a header-only PING, answered by one of the same id. A barrier like RawClient.ping. */
  async ping(timeoutMs?: number): Promise<void> {
    const id = this.nextId();
    this.send(encodeWsFrame(clientHeader(Cmd.PING, this.uuid, this.resource, id), new Uint8Array(0)));
    await this.next((f) => f.header?.cmd === Cmd.PING && f.header.id === id, 'pong', timeoutMs);
  }

  /** A SECMSG carrying `packet` plain, as mimc.js writes it. */
  sendPacket(packet: MimcPacket): void {
    const header = { ...clientHeader(Cmd.SECMSG, this.uuid, this.resource, packet.packetId), cipher: Cipher.NONE };
    this.send(encodeWsFrame(header, encodeMimcPacket(packet)));
  }

  sendP2P(toAccount: string, payload: Uint8Array | string): string {
    const token = this.token!;
    const packetId = this.nextId();
    const message = encodeP2PMessage({
      from: { appId: token.appId, appAccount: token.appAccount, uuid: this.uuid, resource: this.resource },
      to: { appId: token.appId, appAccount: toAccount, uuid: 0n, resource: '' },
      payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
      isStore: true,
    });
    this.sendPacket({ packetId, package: token.appPackage, type: PacketType.P2P_MESSAGE, payload: message });
    return packetId;
  }

  sendSequenceAck(sequence: bigint): void {
    const token = this.token!;
    const payload = encodeSequenceAck({ uuid: this.uuid, resource: this.resource, sequence, appId: token.appId });
    this.sendPacket({ packetId: this.nextId(), package: token.appPackage, type: PacketType.SEQUENCE_ACK, sequence, payload });
  }

  ackList(list: PacketList): void {
    this.sendSequenceAck(list.maxSequence);
  }

  close(): void {
    this.ws.terminate();
  }
}

/** Connects to `url`, handshakes and binds `appAccount` as `resource` over WebSocket; throws if BIND fails. */
export async function loginRawWs(server: Pick<RawServer, 'fetchToken'>, url: string, appAccount: string, resource: string): Promise<RawWsClient> {
  const token = parseToken(await server.fetchToken(appAccount));
  const client = await RawWsClient.connect(url);
  try {
    await client.conn({ uuid: token.uuid, resource });
    if (!(await client.bind(token))) throw new Error(`BIND refused for ${appAccount}`);
  } catch (err) {
    client.close();
    throw err;
  }
  return client;
}
