/**
 * The two fuzzers behind spec/reliability/fuzz.spec.ts and scripts/fuzz.ts.
 *
 * Client: a tiny fake MIMC frontend (in memory, TCP or WebSocket on 127.0.0.1) completes the
 * handshake with the right keys, then writes hostile frames at a real MCUser. After each case it writes a marker
 * (an online message) and waits: either the marker reaches the app (the client stayed up and
 * consistent) or the client closed the connection and logged a MIMCError code, then came back
 * (or, after a KICK or a refused login, logged in again when asked). Nothing may throw, reject
 * unhandled, or hang.
 *
 * Emulator: raw garbage and mutated valid frames before CONN, before BIND and once bound, over
 * TCP or over WebSocket (binary and text messages, and bytes under the WebSocket layer). Each
 * case may only cost its own connection; a healthy pair of clients (over WebSocket: one TCP, one
 * WebSocket) keeps exchanging messages throughout, and no connection is left behind.
 */
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  BIND_KICK,
  BIND_METHOD,
  CHID,
  Cmd,
  CONN_OS,
  CONN_SDK,
  CONN_VERSION,
  DirFlag,
  EMPTY_FRAME,
  FrameDecoder,
  PacketType,
  Rc4,
  SERVER,
  WS_CONN_SDK,
  bindSignature,
  clientHeader,
  decodeBody,
  decodeConn,
  decodeMimcPacket,
  decodeSecMsgPayload,
  decodeWsFrame,
  deriveBodyKey,
  encodeBind,
  encodeBindResult,
  encodeConn,
  encodeConnResp,
  encodeP2PMessage,
  encodePacketAck,
  encodeV6Frame,
  encodeWsFrame,
  serverHeader,
  type ClientHeader,
  type DecodedBody,
} from '../../../lib/protocol/index.js';
import { startEmulator } from '../../../lib/emulator/index.js';
import { MCUser } from '../../../lib/user/mcuser.js';
import { createLogger } from '../../../lib/user/logger.js';
import { RawClient, isCmd, loginRaw } from '../../helpers/raw-client.js';
import { ProcessWatch, sleep, waitFor } from '../../helpers/invariants.js';
import { RawWsClient, loginRawWs } from '../../helpers/raw-ws-client.js';
import { Rng, frameOf, hostileCase, hostileProto, hostilePacket, mutate, secMsg, split, wsProtocolBytes, type CaseKind, type FrameContext, type HostileCase } from './generate.js';
import { MEMORY_HOST, listenMemory, type MemoryServerEnd } from './memory-net.js';

/** Client frame cap in the fuzz (the SDK default). */
const MAX_BODY = 1024 * 1024;

/** What each transport gives the fake frontend (over WebSocket, a chunk is one whole message). */
interface Wire {
  readonly kind?: 'websocket';
  write(bytes: Uint8Array): boolean;
  /** WebSocket: a text message, and bytes written under the WebSocket layer. */
  writeText?(bytes: Uint8Array): void;
  writeRaw?(bytes: Uint8Array): void;
  destroy(): void;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'close', listener: () => void): unknown;
}

/** One accepted WebSocket as a Wire; the close code the client chose goes to `onCloseCode`. */
function webSocketWire(ws: WebSocket, onCloseCode: (code: number) => void): Wire {
  ws.on('error', () => undefined); // the client under test may break the protocol; 'close' follows
  ws.on('close', (code: number) => onCloseCode(code));
  return {
    kind: 'websocket',
    write: (bytes) => {
      ws.send(bytes, { binary: true });
      return true;
    },
    writeText: (bytes) => ws.send(bytes, { binary: false }),
    // ws has no public way to write under its framing; the fuzz needs exactly that
    writeRaw: (bytes) => void (ws as unknown as { _socket: Socket })._socket.write(bytes),
    destroy: () => ws.terminate(),
    on(event: 'data' | 'close', listener: ((chunk: Buffer) => void) | (() => void)) {
      if (event === 'close') ws.on('close', listener as () => void);
      else
        ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
          // the SDK never sends text: a text message is as unreadable as a bad frame
          if (!isBinary) ws.terminate();
          else (listener as (chunk: Buffer) => void)(Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer));
        });
      return ws;
    },
  };
}

interface FakeToken {
  appId: bigint;
  appAccount: string;
  appPackage: string;
  uuid: bigint;
  securityKey: string;
  token: string;
  json: string;
}

function fakeToken(appAccount: string): FakeToken {
  const appId = 2882303761517479657n;
  const uuid = (1n << 61n) | BigInt(`0x${randomBytes(7).toString('hex')}`);
  const securityKey = randomBytes(16).toString('base64');
  const token = randomBytes(24).toString('base64url');
  const appPackage = 'com.example.mimc';
  const json = JSON.stringify({
    code: 200,
    message: 'success',
    data: {
      appId: appId.toString(),
      appPackage,
      appAccount,
      miChid: CHID,
      miUserId: uuid.toString(),
      miUserSecurityKey: securityKey,
      token,
      feDomainName: 'fuzz.local',
      regionBucket: 0,
    },
  });
  return { appId, appAccount, appPackage, uuid, securityKey, token, json };
}

/** Server side of one client connection. */
class FakeConnection {
  state: 'conn' | 'bind' | 'bound' = 'conn';
  closed = false;
  bodyKey: Rc4 | null = null;
  resource = '';
  private readonly decoder = new FrameDecoder({ maxBodyLength: MAX_BODY });
  private counter = 0;
  readonly prefix = `fz${randomBytes(3).toString('hex')}_`;
  readonly ws: boolean;

  constructor(
    readonly wire: Wire,
    readonly frontend: FakeFrontend,
  ) {
    this.ws = wire.kind === 'websocket';
    wire.on('data', (chunk) => this.onData(chunk));
    wire.on('close', () => {
      this.closed = true;
      frontend.changed();
    });
  }

  nextId(): string {
    return this.prefix + (++this.counter).toString(36);
  }

  /** Keys and header shape for frames this server writes on this connection. */
  context(): FrameContext {
    const token = this.frontend.token;
    return {
      ...(this.ws ? { transport: 'websocket' as const } : {}),
      bodyKey: this.bodyKey,
      securityKey: token.securityKey,
      uuid: token.uuid,
      resource: this.resource,
      header: (cmd, id) => serverHeader(cmd as never, token.uuid, this.resource, id, DirFlag.SC_ONEWAY),
      nextId: () => this.nextId(),
    };
  }

  write(bytes: Uint8Array): void {
    if (!this.closed) this.wire.write(bytes);
  }

  /** One hostile case: TCP writes, or WebSocket messages (binary, text or raw). */
  writeCase(c: HostileCase): void {
    for (const chunk of c.chunks) {
      if (this.closed) return;
      if (c.as === 'text') this.wire.writeText!(chunk);
      else if (c.as === 'raw') this.wire.writeRaw!(chunk);
      else this.wire.write(chunk);
    }
  }

  /** A frame of this connection's framing; `keyed` picks the TCP body key (false before CONN). */
  frame(header: ClientHeader, payload: Uint8Array, keyed = true): Uint8Array {
    return this.ws ? encodeWsFrame(header, payload) : encodeV6Frame(header, payload, keyed ? this.bodyKey : null);
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    try {
      if (this.ws) this.handle(chunk);
      else for (const body of this.decoder.push(chunk)) this.handle(body);
    } catch {
      // our own peer is the client under test: anything unreadable ends the connection
      this.wire.destroy();
    }
  }

  /** A TCP frame body, or a whole WebSocket message. */
  private decode(unit: Uint8Array): DecodedBody | null {
    return this.ws ? decodeWsFrame(unit, { maxFrameBody: MAX_BODY }) : decodeBody(unit, this.state === 'conn' ? null : this.bodyKey);
  }

  private handle(unit: Uint8Array): void {
    const token = this.frontend.token;
    if (this.state === 'conn') {
      const decoded = this.decode(unit)!;
      const conn = decodeConn(decoded.payload);
      this.resource = decoded.header.resource;
      const hostile = this.frontend.takeHostile('conn');
      if (hostile) {
        for (const chunk of hostile(this)) this.write(chunk);
        return;
      }
      const challenge = randomBytes(12).toString('hex');
      this.write(this.frame(serverHeader(Cmd.CONN, decoded.header.uuid, this.resource, this.nextId()), encodeConnResp(challenge), false));
      if (!this.ws) this.bodyKey = new Rc4(deriveBodyKey(challenge, conn.udid));
      this.state = 'bind';
      return;
    }
    const decoded = this.decode(unit);
    if (!decoded) return;
    const { header } = decoded;
    switch (header.cmd) {
      case Cmd.BIND: {
        const hostile = this.frontend.takeHostile('bind');
        if (hostile) {
          for (const chunk of hostile(this)) this.write(chunk);
          // the client may take a hostile answer as a successful BIND: serve it as bound either way
          this.state = 'bound';
          this.frontend.changed();
          return;
        }
        this.write(this.frame(serverHeader(Cmd.BIND, token.uuid, this.resource, header.id), encodeBindResult({ result: true })));
        this.state = 'bound';
        this.frontend.changed();
        return;
      }
      case Cmd.PING:
      case Cmd.UBND:
        // the WebSocket pong is a header-only frame of the same command and id
        this.write(this.ws ? this.frame(serverHeader(header.cmd as typeof Cmd.PING, header.uuid, header.resource, header.id), new Uint8Array(0)) : EMPTY_FRAME);
        return;
      case Cmd.SECMSG: {
        // a WebSocket client's packets travel plain
        const packet = this.ws ? decodeMimcPacket(decoded.payload) : decodeSecMsgPayload(header, decoded.payload, token.securityKey);
        if (packet.type === PacketType.P2P_MESSAGE || packet.type === PacketType.P2T_MESSAGE) {
          const ack = encodePacketAck({
            packetId: packet.packetId,
            uuid: token.uuid,
            resource: this.resource,
            sequence: 1n,
            timestamp: BigInt(Date.now()),
            package: token.appPackage,
            errorMsg: '',
            code: 0,
          });
          this.write(secMsg(this.context(), { packetId: this.nextId(), package: token.appPackage, type: PacketType.PACKET_ACK, payload: ack }));
        }
        return;
      }
      default:
        return;
    }
  }
}

type HostileHandshake = (conn: FakeConnection) => Uint8Array[];

/** Accepts client connections (memory or TCP) and runs the handshake with the right keys. */
class FakeFrontend {
  readonly token = fakeToken('fuzzer');
  readonly connections = new Set<FakeConnection>();
  private hostile: { phase: 'conn' | 'bind'; answer: HostileHandshake } | null = null;
  private waiters = new Set<() => void>();
  private server: Server | null = null;
  private http: HttpServer | null = null;
  private wss: WebSocketServer | null = null;
  /** Close codes of WebSocket connections as the fake frontend saw them (the client's choice, 1006 for none). */
  readonly wsCloseCodes: Record<string, number> = {};
  port = 0;

  accept(wire: Wire): void {
    const conn = new FakeConnection(wire, this);
    this.connections.add(conn);
    wire.on('close', () => this.connections.delete(conn));
  }

  async listenTcp(): Promise<void> {
    const server = createServer((socket: Socket) => {
      socket.setNoDelay(true);
      socket.on('error', () => undefined);
      this.accept(socket);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  async listenWebSocket(): Promise<void> {
    const http = createHttpServer();
    const wss = new WebSocketServer({ server: http, perMessageDeflate: false, maxPayload: 2 * MAX_BODY });
    wss.on('connection', (ws: WebSocket) => {
      this.accept(webSocketWire(ws, (code) => void (this.wsCloseCodes[code] = (this.wsCloseCodes[code] ?? 0) + 1)));
    });
    wss.on('error', () => undefined);
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    this.http = http;
    this.wss = wss;
    this.port = (http.address() as AddressInfo).port;
  }

  private inMemory = false;

  listenMemory(): void {
    this.inMemory = true;
    listenMemory((end: MemoryServerEnd) => this.accept(end));
  }

  async close(): Promise<void> {
    if (this.inMemory) listenMemory(null);
    for (const conn of this.connections) conn.wire.destroy();
    if (this.server) await new Promise((resolve) => this.server!.close(resolve));
    this.server = null;
    if (this.http) {
      this.wss!.close();
      const closed = new Promise((resolve) => this.http!.close(resolve));
      this.http.closeAllConnections();
      await closed;
    }
    this.http = null;
    this.wss = null;
  }

  /** The next connection answers `phase` with `answer` instead of the real handshake. */
  armHostile(phase: 'conn' | 'bind', answer: HostileHandshake): void {
    this.hostile = { phase, answer };
  }

  takeHostile(phase: 'conn' | 'bind'): HostileHandshake | null {
    if (this.hostile?.phase !== phase) return null;
    const answer = this.hostile.answer;
    this.hostile = null;
    return answer;
  }

  get hostileArmed(): boolean {
    return this.hostile !== null;
  }

  bound(): FakeConnection | undefined {
    for (const conn of this.connections) if (conn.state === 'bound' && !conn.closed) return conn;
    return undefined;
  }

  /** Persistent listeners called on every change. */
  waitersAdd(check: () => void): void {
    this.waiters.add(check);
  }

  waitersRemove(check: () => void): void {
    this.waiters.delete(check);
  }

  changed(): void {
    for (const wake of [...this.waiters]) wake();
  }

  /** Resolves on the next change (bind, close) or after `ms`. */
  nextChange(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.waiters.add(wake);
    });
  }
}

// ---- client fuzz --------------------------------------------------------------------------------

export interface ClientFuzzOptions {
  cases: number;
  seed: number;
  transport: 'memory' | 'tcp' | 'websocket';
  /** Out of 100 cases, how many attack the handshake (hostile CONN or BIND answers). Default 3. */
  handshakePercent?: number;
  /** Stop early once this many seconds have passed (long runs); default no limit. */
  seconds?: number;
  /** Called with the number of cases just finished (for progress reports). */
  onCases?: (count: number) => void;
}

export interface ClientFuzzResult {
  transport: 'memory' | 'tcp' | 'websocket';
  cases: number;
  /** The marker after the case reached the app: the client stayed up. */
  survived: number;
  /** The client closed the connection (and logged why). */
  closed: number;
  /** The client went offline for good (KICK, refused login) and was logged in again. */
  relogins: number;
  handshakeCases: number;
  /** MIMCError codes the client logged when closing, with counts. */
  closeCodes: Record<string, number>;
  byKind: Record<string, { cases: number; closed: number }>;
  /** WebSocket: the close codes the fake frontend saw (1002, 1003, 1009 … as the client chose; 1006 without a close frame). */
  wsCloseCodes?: Record<string, number>;
  problems: string[];
  ms: number;
}

/** Warnings the SDK is meant to log for hostile input; any other warning is a finding. */
const EXPECTED_WARNINGS = new Set([
  'kicked by the server',
  'dropped an unparsable message',
  'a message handler failed; the list stays unacknowledged',
  'ignored a UC packet addressed to another user',
]);

/** Counts what the SDK logs at warn level, line by line, without keeping the lines. */
function logCounter() {
  const counts = { warns: 0, codes: {} as Record<string, number>, delegateThrew: 0, other: [] as string[] };
  const destination = {
    write(line: string) {
      const record = JSON.parse(line) as { msg?: string; code?: string; level?: number };
      if ((record.level ?? 0) < 40) return;
      counts.warns += 1;
      if (record.msg === 'connection lost' || record.msg === 'login attempt failed' || record.msg === 'login abandoned') {
        const code = String(record.code);
        counts.codes[code] = (counts.codes[code] ?? 0) + 1;
      } else if (record.msg === 'delegate threw') counts.delegateThrew += 1;
      else if (!EXPECTED_WARNINGS.has(String(record.msg))) {
        if (counts.other.length < 20) counts.other.push(String(record.msg));
      }
    },
  };
  return { counts, logger: createLogger({ level: 'warn', destination }) };
}

const CLOSE_CODE = /^ERR_[A-Z_]+$/;

/** Kinds the client normally survives (well-formed frames with hostile contents). */
const SURVIVOR_KINDS: CaseKind[] = ['secmsg-hostile-packet', 'compound', 'other-command', 'empty-frame'];

export async function runClientFuzz(options: ClientFuzzOptions): Promise<ClientFuzzResult> {
  const started = Date.now();
  const rng = new Rng(options.seed);
  const watch = new ProcessWatch().install();
  const frontend = new FakeFrontend();
  if (options.transport === 'tcp') await frontend.listenTcp();
  else if (options.transport === 'websocket') await frontend.listenWebSocket();
  else frontend.listenMemory();
  const log = logCounter();
  const markers = new Set<number>();
  let wakeMarker: (() => void) | null = null;
  const result: ClientFuzzResult = {
    transport: options.transport,
    cases: 0,
    survived: 0,
    closed: 0,
    relogins: 0,
    handshakeCases: 0,
    closeCodes: {},
    byKind: {},
    problems: [],
    ms: 0,
  };
  const user = new MCUser({
    appId: frontend.token.appId,
    appAccount: 'fuzzer',
    ...(options.transport === 'websocket'
      ? { transport: 'websocket' as const, websocket: { url: `ws://127.0.0.1:${frontend.port}/` } }
      : { frontendAddress: options.transport === 'tcp' ? { host: '127.0.0.1', port: frontend.port } : { host: MEMORY_HOST, port: 1 } }),
    tokenDelegate: { fetchToken: () => frontend.token.json },
    logger: log.logger,
    loginTimeoutMs: 100,
    connectTimeoutMs: 1000,
    // a hostile partial frame swallows everything after it: only the keep-alive can tell, so keep it short
    pingIntervalMs: 15,
    responseTimeoutMs: 15,
    // p-retry rounds this to no delay at all: every attempt follows the last at once
    reconnect: { minDelayMs: 0.001, maxDelayMs: 0.001, factor: 1, jitter: false },
    messageDelegate: {
      handleMessage: () => undefined,
      handleGroupMessage: () => undefined,
      handleOnlineMessage: (message) => {
        const text = Buffer.from(message.payload).toString();
        if (text.startsWith('marker:')) {
          markers.add(Number(text.slice(7)));
          wakeMarker?.();
        }
      },
    },
  });
  let ownership = 0; // bumps on every state change, to wake waits
  user.on('stateChange', () => {
    ownership += 1;
    wakeMarker?.();
    frontend.changed();
  });

  const problem = (what: string) => {
    if (result.problems.length < 50) result.problems.push(what);
  };

  /** Gets the user bound again (logging in when it gave up), within `ms`. */
  const ensureBound = async (ms: number): Promise<boolean> => {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      const conn = frontend.bound();
      if (conn && user.isOnline) return true;
      if (user.state === 'offline') {
        result.relogins += 1;
        void user.login({ timeoutMs: 5000 }).catch(() => undefined);
      }
      await frontend.nextChange(Math.min(50, Math.max(1, deadline - Date.now())));
    }
    return false;
  };

  const markerFrame = (conn: FakeConnection, n: number): Uint8Array => {
    const token = frontend.token;
    const payload = encodeP2PMessage({
      from: { appId: token.appId, appAccount: 'marker', uuid: 1n, resource: 'm' },
      to: { appId: token.appId, appAccount: 'fuzzer' },
      payload: Buffer.from(`marker:${n}`),
    });
    return secMsg(conn.context(), { packetId: conn.nextId(), package: token.appPackage, type: PacketType.ONLINE_MESSAGE, payload });
  };

  try {
    await user.login({ timeoutMs: 5000 });
    if (!(await ensureBound(2000))) throw new Error('the fuzz client never bound');
    const deadline = options.seconds === undefined ? Infinity : started + options.seconds * 1000;
    for (let n = 0; result.cases < options.cases && Date.now() < deadline; n++) {
      const codesBefore = { ...log.counts.codes };
      if (rng.int(100) < (options.handshakePercent ?? 3)) {
        // a hostile CONN or BIND answer on the next connection, then the client must come back
        result.cases += 1;
        options.onCases?.(1);
        result.handshakeCases += 1;
        const phase = rng.chance(0.5) ? 'conn' : 'bind';
        const caseRng = new Rng(rng.next());
        frontend.armHostile(phase, (conn) => hostileHandshake(caseRng, conn, phase));
        frontend.bound()?.wire.destroy();
        // generous: only a client that never comes back fails (a loaded machine delays the backoff timer)
        const back = await waitFor(() => !frontend.hostileArmed, 10_000, 1);
        if (!back) problem(`case ${n}: the client did not reconnect after a dropped connection`);
        if (!(await ensureBound(5000))) problem(`case ${n}: not bound again after a hostile ${phase} answer (state ${user.state})`);
        continue;
      }
      const conn = frontend.bound();
      if (!conn) {
        problem(`case ${n}: no bound connection`);
        if (!(await ensureBound(5000))) break;
        continue;
      }
      // Kinds the client usually survives go in batches before one marker: each is a case if the
      // marker proves they were all processed; a batch the client closed on counts as one case.
      const size = rng.chance(0.3) ? Math.min(2 + rng.int(6), options.cases - result.cases) : 1;
      const cases = Array.from({ length: Math.max(size, 1) }, () =>
        hostileCase(rng, conn.context(), frontend.token.appId, MAX_BODY, size > 1 ? rng.pick(SURVIVOR_KINDS) : undefined),
      );
      const kind = cases.length > 1 ? 'survivor-batch' : cases[0]!.kind;
      for (const c of cases) conn.writeCase(c);
      conn.write(markerFrame(conn, n));
      const stateBefore = ownership;
      const outcome = await new Promise<'marker' | 'closed' | 'hung'>((resolve) => {
        const check = () => {
          if (markers.has(n)) finish('marker');
          else if (conn.closed || ownership !== stateBefore) finish('closed');
        };
        const finish = (how: 'marker' | 'closed' | 'hung') => {
          clearTimeout(timer);
          wakeMarker = null;
          frontend.waitersRemove(check);
          resolve(how);
        };
        const timer = setTimeout(() => finish('hung'), 3000);
        wakeMarker = check;
        frontend.waitersAdd(check);
        check();
      });
      const counted = outcome === 'marker' ? cases.length : 1;
      result.cases += counted;
      options.onCases?.(counted);
      const stats = (result.byKind[kind] ??= { cases: 0, closed: 0 });
      stats.cases += counted;
      if (outcome === 'hung') {
        problem(`case ${n} (${kind}): neither the marker nor a close within 3 s (state ${user.state})`);
        conn.wire.destroy();
      } else if (outcome === 'marker') {
        result.survived += counted;
      } else {
        result.closed += 1;
        stats.closed += 1;
        // the close must be explained in the log by a MIMCError code (a kick explains itself)
        await waitFor(() => !user.isOnline || conn.closed, 1000, 1);
        await ensureBound(5000).then((ok) => ok || problem(`case ${n} (${kind}): not bound again (state ${user.state})`));
        const newCodes = Object.entries(log.counts.codes).filter(([code, count]) => count > (codesBefore[code] ?? 0));
        for (const [code, count] of newCodes) result.closeCodes[code] = (result.closeCodes[code] ?? 0) + count - (codesBefore[code] ?? 0);
        if (newCodes.some(([code]) => !CLOSE_CODE.test(code))) problem(`case ${n} (${kind}): logged close codes ${JSON.stringify(newCodes)}`);
      }
    }
    // still alive at the end: one more marker must arrive
    if (await ensureBound(5000)) {
      const conn = frontend.bound()!;
      conn.write(markerFrame(conn, -1));
      if (!(await waitFor(() => markers.has(-1), 3000, 2))) problem('the final marker never reached the app');
    } else problem(`not bound at the end (state ${user.state})`);
  } finally {
    user.destroy();
    await frontend.close();
    await sleep(20);
    watch.uninstall();
  }
  if (log.counts.delegateThrew > 0) problem(`${log.counts.delegateThrew} delegate failures logged`);
  if (log.counts.other.length > 0) problem(`unexpected warnings: ${JSON.stringify(log.counts.other)}`);
  if (options.transport === 'websocket') result.wsCloseCodes = frontend.wsCloseCodes;
  result.problems.push(...watch.problems);
  result.ms = Date.now() - started;
  return result;
}

/**
 * A hostile answer to CONN (plaintext) or BIND (body-encrypted on TCP). TCP cuts it into writes
 * anywhere; over WebSocket it is one message (a cut one is a 'truncated' case of its own).
 */
function hostileHandshake(rng: Rng, conn: FakeConnection, phase: 'conn' | 'bind'): Uint8Array[] {
  const token = conn.frontend.token;
  const units = (bytes: Uint8Array): Uint8Array[] => (conn.ws ? [bytes] : split(rng, bytes));
  if (phase === 'conn') {
    const choice = rng.int(4);
    if (choice === 0) return units(rng.bytes(1 + rng.int(64)));
    const payload = choice === 1 ? hostileProto(rng) : encodeConnResp(choice === 2 ? '' : rng.text());
    return units(mutateMaybe(rng, conn.frame(serverHeader(rng.chance(0.8) ? Cmd.CONN : rng.text() as never, token.uuid, conn.resource, conn.nextId()), payload, false), conn));
  }
  const choice = rng.int(4);
  const payload =
    choice === 0
      ? hostileProto(rng)
      : encodeBindResult({ result: rng.chance(0.3), errorType: rng.pick(['token-expired', 'auto', 'multi-login', 'auth', rng.text()]), errorReason: rng.pick(['invalid-token', rng.text()]), errorDesc: rng.text() });
  const cmd = rng.chance(0.8) ? Cmd.BIND : rng.pick([Cmd.KICK, Cmd.SECMSG, Cmd.PING]);
  return units(mutateMaybe(rng, conn.frame(serverHeader(cmd, token.uuid, conn.resource, conn.nextId()), payload), conn));
}

function mutateMaybe(rng: Rng, frame: Uint8Array, conn: FakeConnection): Uint8Array {
  return rng.chance(0.3) ? mutate(rng, frame, conn.ws ? 'websocket' : 'tcp') : frame;
}

// ---- emulator fuzz ------------------------------------------------------------------------------

/**
 * How long a case may stay unanswered before it counts as "silent" (the emulator waits for the
 * rest of a frame, or ignores what it got) and its connection is dropped. Only a classification:
 * silence is legitimate, a crash, a leak or a disturbed neighbour is not.
 */
const SILENCE_MS = 25;

/** The longest the healthy pair goes without a health check (and so without traffic). */
const HEALTH_EVERY_MS = 2000;

/** The emulator's frame cap before BIND (its default, set explicitly so the WebSocket cases can aim just over it). */
const PRE_BIND_CAP = 4096;

export interface EmulatorFuzzOptions {
  cases: number;
  seed: number;
  /** The frontend the cases go to: TCP (default) or WebSocket (the healthy pair is then one of each). */
  transport?: 'tcp' | 'websocket';
  /** Health check of the untouched pair every this many cases (default 100). */
  healthEvery?: number;
  /** Stop early once this many seconds have passed (long runs); default no limit. */
  seconds?: number;
  /** Called with the number of cases just finished (for progress reports). */
  onCases?: (count: number) => void;
}

export interface EmulatorFuzzResult {
  transport: 'tcp' | 'websocket';
  cases: number;
  byPhase: Record<'preconn' | 'prebind' | 'bound', { cases: number; closed: number; answered: number; silent: number }>;
  rejectedFrames: number;
  /** WebSocket: the close codes of the connections the emulator closed (1002, 1003, 1007, 1009 …; 1006 without a close frame). */
  closeCodes?: Record<string, number>;
  healthChecks: number;
  problems: string[];
  ms: number;
}

type RawPeer = RawClient | RawWsClient;

/** The frame context of a raw client (client → server frames). */
function clientContext(client: RawPeer): FrameContext {
  return {
    ...(client instanceof RawWsClient ? { transport: 'websocket' as const } : {}),
    side: 'client',
    bodyKey: client.bodyKey,
    securityKey: client.token?.securityKey ?? client.securityKey ?? 'AAAA',
    uuid: client.uuid,
    resource: client.resource,
    header: (cmd, id) => clientHeader(cmd as never, client.uuid, client.resource, id) as ClientHeader,
    nextId: () => client.nextId(),
  };
}

/** Over WebSocket: each chunk one message (binary, text or raw under the WebSocket layer). */
function sendWsCase(client: RawWsClient, c: HostileCase): void {
  for (const chunk of c.chunks) {
    if (c.as === 'text') client.sendText(chunk);
    else if (c.as === 'raw') client.sendRaw(chunk);
    else client.send(chunk);
  }
}

async function outcomeOf(client: RawPeer, answered: Promise<unknown>, ms: number): Promise<'closed' | 'answered' | 'silent'> {
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([
    client.closed.then(() => 'closed' as const),
    answered.then(
      () => 'answered' as const,
      () => (client.isClosed ? ('closed' as const) : ('silent' as const)),
    ),
    new Promise<'silent'>((resolve) => (timer = setTimeout(() => resolve('silent'), ms))),
  ]);
  clearTimeout(timer);
  return result;
}

export async function runEmulatorFuzz(options: EmulatorFuzzOptions): Promise<EmulatorFuzzResult> {
  const started = Date.now();
  const rng = new Rng(options.seed);
  const transport = options.transport ?? 'tcp';
  const ws = transport === 'websocket';
  const watch = new ProcessWatch().install();
  // anything the emulator logs at error level (an internal error caught while handling a frame) is a finding
  const errors: string[] = [];
  const logger = createLogger({ level: 'error', destination: { write: (line: string) => void errors.push(String((JSON.parse(line) as { msg?: string }).msg)) } });
  // Timeouts far above any stall of a loaded CI machine, so only a case can cost a connection;
  // a long bind timeout also makes the leak check at the end stricter (it waits less than that).
  const emulator = await startEmulator({ bindTimeoutMs: 10_000, idleTimeoutMs: 30_000, maxPreBindFrameBody: PRE_BIND_CAP, logger });
  const port = emulator.frontend.port;
  const url = emulator.websocketUrl!;
  const appId = emulator.app.appId;
  const result: EmulatorFuzzResult = {
    transport,
    cases: 0,
    byPhase: {
      preconn: { cases: 0, closed: 0, answered: 0, silent: 0 },
      prebind: { cases: 0, closed: 0, answered: 0, silent: 0 },
      bound: { cases: 0, closed: 0, answered: 0, silent: 0 },
    },
    rejectedFrames: 0,
    ...(ws ? { closeCodes: {} } : {}),
    healthChecks: 0,
    problems: [],
    ms: 0,
  };
  const problem = (what: string) => {
    if (result.problems.length < 50) result.problems.push(what);
  };
  /** A WebSocket case the emulator closed: remember the close code it chose. */
  const noteClose = (client: RawPeer) => {
    if (!(client instanceof RawWsClient) || client.closeCode === null) return;
    // a close the case itself began comes back with the case's code (ws echoes it), 1011 included;
    // the emulator's own internal errors show in its error log instead
    result.closeCodes![client.closeCode] = (result.closeCodes![client.closeCode] ?? 0) + 1;
  };
  const alice = await loginRaw(emulator, 'alice', 'ra');
  // over WebSocket the pair spans both frontends: a case must disturb neither
  const bob: RawPeer = ws ? await loginRawWs(emulator, url, 'bob', 'rb') : await loginRaw(emulator, 'bob', 'rb');
  let fuzzer: RawPeer | null = null;
  let healthCounter = 0;
  let lastHealth = Date.now();
  const exchange = async (from: RawPeer, to: RawPeer, toAccount: string, text: string) => {
    const id = from.sendP2P(toAccount, text);
    const ack = await from.nextAck(id, 3000);
    if (ack.errorMsg !== '') throw new Error(`health message refused: ${ack.errorMsg}`);
    const frame = await to.next((f) => f.list?.packets.some((p) => p.packetId === id) === true, 'health delivery', 3000);
    to.ackList(frame.list!);
    await to.ping(3000);
  };
  const health = async (where: string) => {
    result.healthChecks += 1;
    lastHealth = Date.now();
    const text = `health ${++healthCounter}`;
    try {
      await exchange(alice, bob, 'bob', text);
      if (ws) await exchange(bob, alice, 'alice', text);
      alice.inbox.length = 0;
      bob.inbox.length = 0;
    } catch (err) {
      problem(`${where} (${Date.now() - started} ms in): the healthy pair is affected: ${(err as Error).message}`);
    }
  };
  try {
    const deadline = options.seconds === undefined ? Infinity : started + options.seconds * 1000;
    for (let n = 0; n < options.cases && Date.now() < deadline; n++) {
      result.cases += 1;
      options.onCases?.(1);
      const roll = rng.int(100);
      const phase = roll < 25 ? 'preconn' : roll < 40 ? 'prebind' : 'bound';
      const stats = result.byPhase[phase];
      stats.cases += 1;
      let outcome: 'closed' | 'answered' | 'silent';
      if (phase === 'preconn' && ws) {
        const client = await RawWsClient.connect(url);
        const header = clientHeader(Cmd.CONN, rng.u64() >> 1n, rng.text().slice(0, 64), `c${n}`);
        const valid = encodeWsFrame(header, encodeConn({ version: CONN_VERSION, os: CONN_OS, udid: rng.text().slice(0, 40), sdk: WS_CONN_SDK }));
        const choice = rng.int(10);
        if (choice < 2) sendWsCase(client, hostileCase(rng, clientContext(client), appId, PRE_BIND_CAP, rng.pick<CaseKind>(['text', 'ws-protocol'])));
        else if (choice < 4) client.send(rng.bytes(rng.int(128)));
        else if (choice < 7) client.send(mutate(rng, valid, 'websocket'));
        else if (choice < 8) client.send(encodeWsFrame(header, rng.bytes(PRE_BIND_CAP + 1 + rng.int(64)))); // over the pre-bind cap
        else client.send(encodeWsFrame(clientHeader(Cmd.CONN, 1n, 'r', `c${n}`), hostileProto(rng)));
        outcome = await outcomeOf(client, client.next(isCmd(Cmd.CONN), 'CONN answer', SILENCE_MS), SILENCE_MS);
        if (outcome === 'closed') noteClose(client);
        client.close();
      } else if (phase === 'preconn') {
        const client = await RawClient.connect(port);
        const valid = encodeV6Frame(clientHeader(Cmd.CONN, rng.u64() >> 1n, rng.text().slice(0, 64), `c${n}`), encodeConn({ version: CONN_VERSION, os: CONN_OS, udid: rng.text().slice(0, 40), sdk: CONN_SDK }), null);
        const bytes = rng.chance(0.3) ? rng.bytes(1 + rng.int(128)) : rng.chance(0.5) ? mutate(rng, valid) : encodeV6Frame(clientHeader(Cmd.CONN, 1n, 'r', `c${n}`), hostileProto(rng), null);
        for (const chunk of split(rng, bytes)) client.send(chunk);
        outcome = await outcomeOf(client, client.next(isCmd(Cmd.CONN), 'CONN answer', SILENCE_MS), SILENCE_MS);
        client.close();
      } else if (phase === 'prebind') {
        const client: RawPeer = ws ? await RawWsClient.connect(url) : await RawClient.connect(port);
        try {
          await client.conn({ uuid: 1n, resource: 'prebind', timeoutMs: 10_000 }); // a valid CONN: only a hang fails, not a busy machine
          const token = JSON.parse(await emulator.fetchToken('prebound')) as { data: { token: string; miUserSecurityKey: string; miUserId: string } };
          client.securityKey = token.data.miUserSecurityKey;
          if (client instanceof RawWsClient) {
            if (rng.chance(0.5)) {
              const raw = { appId, appAccount: 'prebound', appPackage: '', uuid: BigInt(token.data.miUserId), securityKey: token.data.miUserSecurityKey, token: token.data.token };
              client.send(mutate(rng, client.bindFrame(raw), 'websocket'));
            } else {
              const kinds: CaseKind[] = ['garbage', 'hostile-header', 'other-command', 'secmsg-hostile-packet', 'secmsg-unkeyed', 'random-body', 'huge-length', 'truncated', 'text', 'ws-protocol'];
              sendWsCase(client, hostileCase(rng, clientContext(client), appId, PRE_BIND_CAP, rng.pick(kinds)));
            }
          } else {
            let frame: Uint8Array;
            if (rng.chance(0.5)) {
              const id = client.nextId();
              const sig = bindSignature({
                method: BIND_METHOD,
                challenge: client.challenge,
                chid: CHID,
                clientAttrs: '',
                cloudAttrs: '',
                uuid: BigInt(token.data.miUserId),
                resource: client.resource,
                headerId: id,
                kick: BIND_KICK,
                server: SERVER,
                token: token.data.token,
                securityKey: token.data.miUserSecurityKey,
              });
              const bind = encodeBind({ token: token.data.token, kick: BIND_KICK, method: BIND_METHOD, clientAttrs: '', cloudAttrs: '', sig });
              frame = mutate(rng, encodeV6Frame(clientHeader(Cmd.BIND, BigInt(token.data.miUserId), client.resource, id), bind, client.bodyKey));
            } else {
              const ctx = clientContext(client);
              frame = hostileCase(rng, ctx, appId, 1024 * 1024, rng.pick<CaseKind>(['garbage', 'hostile-header', 'other-command', 'secmsg-hostile-packet', 'random-body', 'huge-length'])).chunks.reduce(
                (all, c) => Buffer.concat([all, c]),
                Buffer.alloc(0),
              );
            }
            for (const chunk of split(rng, frame)) client.send(chunk);
          }
          outcome = await outcomeOf(client, client.next(() => true, 'any answer', SILENCE_MS), SILENCE_MS);
          if (outcome === 'closed') noteClose(client);
        } catch (err) {
          outcome = client.isClosed ? 'closed' : 'silent';
          if (!client.isClosed) problem(`case ${n}: handshake before the prebind case failed: ${(err as Error).message}`);
        }
        client.close();
      } else {
        fuzzer ??= ws ? await loginRawWs(emulator, url, 'fuzzer', 'rf') : await loginRaw(emulator, 'fuzzer', 'rf');
        fuzzer.inbox.length = 0;
        const ctx = clientContext(fuzzer);
        const kind = rng.int(4);
        const client: RawPeer = fuzzer;
        if (kind === 0) {
          // a valid message from the bound client, then damaged
          client.send(mutate(rng, secMsg(ctx, hostilePacket(rng, ctx, appId, rng.pick([PacketType.P2P_MESSAGE, PacketType.P2T_MESSAGE, PacketType.SEQUENCE_ACK]))), transport));
        } else if (kind === 1) {
          // correctly framed (and encrypted on TCP), hostile inside; never addressed to the healthy pair
          client.send(secMsg(ctx, hostilePacket(rng, ctx, appId)));
        } else if (client instanceof RawWsClient) {
          sendWsCase(client, hostileCase(rng, ctx, appId, 1024 * 1024));
        } else {
          for (const chunk of split(rng, Buffer.concat(hostileCase(rng, ctx, appId, 1024 * 1024).chunks))) client.send(chunk);
        }
        outcome = await outcomeOf(client, client.ping(SILENCE_MS), SILENCE_MS + 10);
        if (outcome === 'closed') noteClose(client);
        if (outcome !== 'answered') {
          client.close();
          fuzzer = null;
        }
      }
      stats[outcome] += 1;
      // every 100 cases, and at least every 2 s: the pair is never idle long on a slow machine
      if ((n + 1) % (options.healthEvery ?? 100) === 0 || Date.now() - lastHealth > HEALTH_EVERY_MS) await health(`after case ${n}`);
    }
    fuzzer?.close();
    await health('at the end');
    // every fuzz connection is gone; only the healthy pair remains
    if (!(await waitFor(() => emulator.stats.connections === 2, 3000))) problem(`${emulator.stats.connections} connections open at the end (expected the 2 healthy ones)`);
    if (emulator.onlineResources('alice').length !== 1 || emulator.onlineResources('bob').length !== 1) problem('the healthy pair was unbound');
    if (ws && emulator.onlineSessions('bob')[0]?.transport !== 'websocket') problem('the healthy WebSocket user is not on WebSocket');
  } finally {
    result.rejectedFrames = emulator.stats.rejectedFrames;
    alice.close();
    bob.close();
    fuzzer?.close();
    await emulator.close();
    watch.uninstall();
  }
  if (errors.length > 0) problem(`emulator errors logged: ${JSON.stringify([...new Set(errors)].slice(0, 10))} (${errors.length})`);
  result.problems.push(...watch.problems);
  result.ms = Date.now() - started;
  return result;
}
