/**
 * The two fuzzers behind spec/reliability/fuzz.spec.ts and scripts/fuzz.ts.
 *
 * Client: a tiny fake MIMC frontend (in memory or on 127.0.0.1) completes the handshake with the
 * right keys, then writes hostile frames at a real MCUser. After each case it writes a marker
 * (an online message) and waits: either the marker reaches the app (the client stayed up and
 * consistent) or the client closed the connection and logged a MIMCError code, then came back
 * (or, after a KICK or a refused login, logged in again when asked). Nothing may throw, reject
 * unhandled, or hang.
 *
 * Emulator: raw TCP garbage and mutated valid frames before CONN, before BIND and once bound.
 * Each case may only cost its own connection; a healthy pair of clients keeps exchanging
 * messages throughout, and no connection is left behind.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
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
  bindSignature,
  clientHeader,
  decodeBody,
  decodeConn,
  decodeSecMsgPayload,
  deriveBodyKey,
  encodeBind,
  encodeBindResult,
  encodeConn,
  encodeConnResp,
  encodeP2PMessage,
  encodePacketAck,
  encodeV6Frame,
  serverHeader,
  type ClientHeader,
} from '../../../lib/protocol/index.js';
import { startEmulator } from '../../../lib/emulator/index.js';
import { MCUser } from '../../../lib/user/mcuser.js';
import { createLogger } from '../../../lib/user/logger.js';
import { RawClient, isCmd, loginRaw } from '../../helpers/raw-client.js';
import { ProcessWatch, sleep, waitFor } from '../../helpers/invariants.js';
import { Rng, hostileCase, hostileProto, hostilePacket, mutate, secMsg, split, type CaseKind, type FrameContext } from './generate.js';
import { MEMORY_HOST, listenMemory, type MemoryServerEnd } from './memory-net.js';

/** Client frame cap in the fuzz (the SDK default). */
const MAX_BODY = 1024 * 1024;

/** What either transport gives the fake frontend. */
interface Wire {
  write(bytes: Uint8Array): boolean;
  destroy(): void;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'close', listener: () => void): unknown;
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

  constructor(
    readonly wire: Wire,
    readonly frontend: FakeFrontend,
  ) {
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
      bodyKey: this.bodyKey!,
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

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    try {
      for (const body of this.decoder.push(chunk)) this.handle(body);
    } catch {
      // our own peer is the client under test: anything unreadable ends the connection
      this.wire.destroy();
    }
  }

  private handle(body: Uint8Array): void {
    const token = this.frontend.token;
    if (this.state === 'conn') {
      const decoded = decodeBody(body, null)!;
      const conn = decodeConn(decoded.payload);
      this.resource = decoded.header.resource;
      const hostile = this.frontend.takeHostile('conn');
      if (hostile) {
        for (const chunk of hostile(this)) this.write(chunk);
        return;
      }
      const challenge = randomBytes(12).toString('hex');
      this.write(encodeV6Frame(serverHeader(Cmd.CONN, decoded.header.uuid, this.resource, this.nextId()), encodeConnResp(challenge), null));
      this.bodyKey = new Rc4(deriveBodyKey(challenge, conn.udid));
      this.state = 'bind';
      return;
    }
    const decoded = decodeBody(body, this.bodyKey);
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
        this.write(encodeV6Frame(serverHeader(Cmd.BIND, token.uuid, this.resource, header.id), encodeBindResult({ result: true }), this.bodyKey));
        this.state = 'bound';
        this.frontend.changed();
        return;
      }
      case Cmd.PING:
      case Cmd.UBND:
        this.write(EMPTY_FRAME);
        return;
      case Cmd.SECMSG: {
        const packet = decodeSecMsgPayload(header, decoded.payload, token.securityKey);
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
  transport: 'memory' | 'tcp';
  /** Out of 100 cases, how many attack the handshake (hostile CONN or BIND answers). Default 3. */
  handshakePercent?: number;
  /** Called with the number of cases just finished (for progress reports). */
  onCases?: (count: number) => void;
}

export interface ClientFuzzResult {
  transport: 'memory' | 'tcp';
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
    frontendAddress: options.transport === 'tcp' ? { host: '127.0.0.1', port: frontend.port } : { host: MEMORY_HOST, port: 1 },
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
    for (let n = 0; result.cases < options.cases; n++) {
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
        const back = await waitFor(() => !frontend.hostileArmed, 3000, 1);
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
      for (const c of cases) for (const chunk of c.chunks) conn.write(chunk);
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
  result.problems.push(...watch.problems);
  result.ms = Date.now() - started;
  return result;
}

/** A hostile answer to CONN (plaintext) or BIND (body-encrypted). */
function hostileHandshake(rng: Rng, conn: FakeConnection, phase: 'conn' | 'bind'): Uint8Array[] {
  const token = conn.frontend.token;
  if (phase === 'conn') {
    const choice = rng.int(4);
    if (choice === 0) return split(rng, rng.bytes(1 + rng.int(64)));
    const payload = choice === 1 ? hostileProto(rng) : encodeConnResp(choice === 2 ? '' : rng.text());
    return split(rng, mutateMaybe(rng, encodeV6Frame(serverHeader(rng.chance(0.8) ? Cmd.CONN : rng.text() as never, token.uuid, conn.resource, conn.nextId()), payload, null)));
  }
  const choice = rng.int(4);
  const payload =
    choice === 0
      ? hostileProto(rng)
      : encodeBindResult({ result: rng.chance(0.3), errorType: rng.pick(['token-expired', 'auto', 'multi-login', 'auth', rng.text()]), errorReason: rng.pick(['invalid-token', rng.text()]), errorDesc: rng.text() });
  const cmd = rng.chance(0.8) ? Cmd.BIND : rng.pick([Cmd.KICK, Cmd.SECMSG, Cmd.PING]);
  return split(rng, mutateMaybe(rng, encodeV6Frame(serverHeader(cmd, token.uuid, conn.resource, conn.nextId()), payload, conn.bodyKey)));
}

function mutateMaybe(rng: Rng, frame: Uint8Array): Uint8Array {
  return rng.chance(0.3) ? mutate(rng, frame) : frame;
}

// ---- emulator fuzz ------------------------------------------------------------------------------

/**
 * How long a case may stay unanswered before it counts as "silent" (the emulator waits for the
 * rest of a frame, or ignores what it got) and its connection is dropped. Only a classification:
 * silence is legitimate, a crash, a leak or a disturbed neighbour is not.
 */
const SILENCE_MS = 25;

export interface EmulatorFuzzOptions {
  cases: number;
  seed: number;
  /** Health check of the untouched pair every this many cases (default 100). */
  healthEvery?: number;
  /** Called with the number of cases just finished (for progress reports). */
  onCases?: (count: number) => void;
}

export interface EmulatorFuzzResult {
  cases: number;
  byPhase: Record<'preconn' | 'prebind' | 'bound', { cases: number; closed: number; answered: number; silent: number }>;
  rejectedFrames: number;
  healthChecks: number;
  problems: string[];
  ms: number;
}

/** The frame context of a raw client (client → server frames). */
function clientContext(client: RawClient): FrameContext {
  return {
    bodyKey: client.bodyKey!,
    securityKey: client.token?.securityKey ?? client.securityKey ?? 'AAAA',
    uuid: client.uuid,
    resource: client.resource,
    header: (cmd, id) => clientHeader(cmd as never, client.uuid, client.resource, id) as ClientHeader,
    nextId: () => client.nextId(),
  };
}

async function outcomeOf(client: RawClient, answered: Promise<unknown>, ms: number): Promise<'closed' | 'answered' | 'silent'> {
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
  const watch = new ProcessWatch().install();
  const emulator = await startEmulator({ bindTimeoutMs: 3000, idleTimeoutMs: 10_000 });
  const port = emulator.frontend.port;
  const appId = emulator.app.appId;
  const result: EmulatorFuzzResult = {
    cases: 0,
    byPhase: {
      preconn: { cases: 0, closed: 0, answered: 0, silent: 0 },
      prebind: { cases: 0, closed: 0, answered: 0, silent: 0 },
      bound: { cases: 0, closed: 0, answered: 0, silent: 0 },
    },
    rejectedFrames: 0,
    healthChecks: 0,
    problems: [],
    ms: 0,
  };
  const problem = (what: string) => {
    if (result.problems.length < 50) result.problems.push(what);
  };
  const alice = await loginRaw(emulator, 'alice', 'ra');
  const bob = await loginRaw(emulator, 'bob', 'rb');
  let fuzzer: RawClient | null = null;
  let healthCounter = 0;
  const health = async (where: string) => {
    result.healthChecks += 1;
    const text = `health ${++healthCounter}`;
    try {
      const id = alice.sendP2P('bob', text);
      const ack = await alice.nextAck(id, 3000);
      if (ack.errorMsg !== '') problem(`${where}: health message refused: ${ack.errorMsg}`);
      const frame = await bob.next((f) => f.list?.packets.some((p) => p.packetId === id) === true, 'health delivery', 3000);
      bob.ackList(frame.list!);
      await bob.ping(3000);
      alice.inbox.length = 0;
      bob.inbox.length = 0;
    } catch (err) {
      problem(`${where}: the healthy pair is affected: ${(err as Error).message}`);
    }
  };
  try {
    for (let n = 0; n < options.cases; n++) {
      result.cases += 1;
      options.onCases?.(1);
      const roll = rng.int(100);
      const phase = roll < 25 ? 'preconn' : roll < 40 ? 'prebind' : 'bound';
      const stats = result.byPhase[phase];
      stats.cases += 1;
      let outcome: 'closed' | 'answered' | 'silent';
      if (phase === 'preconn') {
        const client = await RawClient.connect(port);
        const valid = encodeV6Frame(clientHeader(Cmd.CONN, rng.u64() >> 1n, rng.text().slice(0, 64), `c${n}`), encodeConn({ version: CONN_VERSION, os: CONN_OS, udid: rng.text().slice(0, 40), sdk: CONN_SDK }), null);
        const bytes = rng.chance(0.3) ? rng.bytes(1 + rng.int(128)) : rng.chance(0.5) ? mutate(rng, valid) : encodeV6Frame(clientHeader(Cmd.CONN, 1n, 'r', `c${n}`), hostileProto(rng), null);
        for (const chunk of split(rng, bytes)) client.send(chunk);
        outcome = await outcomeOf(client, client.next(isCmd(Cmd.CONN), 'CONN answer', SILENCE_MS), SILENCE_MS);
        client.close();
      } else if (phase === 'prebind') {
        const client = await RawClient.connect(port);
        try {
          await client.conn({ uuid: 1n, resource: 'prebind', timeoutMs: 2000 });
          const token = JSON.parse(await emulator.fetchToken('prebound')) as { data: { token: string; miUserSecurityKey: string; miUserId: string } };
          client.securityKey = token.data.miUserSecurityKey;
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
          outcome = await outcomeOf(client, client.next(() => true, 'any answer', SILENCE_MS), SILENCE_MS);
        } catch (err) {
          outcome = client.isClosed ? 'closed' : 'silent';
          if (!client.isClosed) problem(`case ${n}: handshake before the prebind case failed: ${(err as Error).message}`);
        }
        client.close();
      } else {
        fuzzer ??= await loginRaw(emulator, 'fuzzer', 'rf');
        fuzzer.inbox.length = 0;
        const ctx = clientContext(fuzzer);
        const kind = rng.int(4);
        let bytes: Uint8Array;
        if (kind === 0) {
          // a valid message from the bound client, then damaged
          bytes = mutate(rng, secMsg(ctx, hostilePacket(rng, ctx, appId, rng.pick([PacketType.P2P_MESSAGE, PacketType.P2T_MESSAGE, PacketType.SEQUENCE_ACK]))));
        } else if (kind === 1) {
          // correctly framed and encrypted, hostile inside; never addressed to the healthy pair
          const packet = hostilePacket(rng, ctx, appId);
          bytes = secMsg(ctx, packet);
        } else {
          bytes = Buffer.concat(hostileCase(rng, ctx, appId, 1024 * 1024).chunks);
        }
        for (const chunk of split(rng, bytes)) fuzzer.send(chunk);
        const client: RawClient = fuzzer;
        outcome = await outcomeOf(client, client.ping(SILENCE_MS), SILENCE_MS + 10);
        if (outcome !== 'answered') {
          client.close();
          fuzzer = null;
        }
      }
      stats[outcome] += 1;
      if ((n + 1) % (options.healthEvery ?? 100) === 0) await health(`after case ${n}`);
    }
    fuzzer?.close();
    await health('at the end');
    // every fuzz connection is gone; only the healthy pair remains
    if (!(await waitFor(() => emulator.stats.connections === 2, 3000))) problem(`${emulator.stats.connections} connections open at the end (expected the 2 healthy ones)`);
    if (emulator.onlineResources('alice').length !== 1 || emulator.onlineResources('bob').length !== 1) problem('the healthy pair was unbound');
  } finally {
    result.rejectedFrames = emulator.stats.rejectedFrames;
    alice.close();
    bob.close();
    fuzzer?.close();
    await emulator.close();
    watch.uninstall();
  }
  result.problems.push(...watch.problems);
  result.ms = Date.now() - started;
  return result;
}
