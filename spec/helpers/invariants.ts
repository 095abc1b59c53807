/**
 * Reliability harness: runs MCUsers against the emulator and checks, in every scenario, the
 * promises docs/guide.md makes (delivery semantics, bounded memory, clean shutdown):
 *
 * - every accepted send ends in exactly one outcome, ack or timeout (delegate and event alike),
 *   within sendTimeoutMs of the send call, never both and never twice;
 * - every isStore message the server acknowledged reaches each receiving user exactly once
 *   (after dedup, across reconnects and restarts), with the bytes that were sent; no message
 *   is ever delivered twice to one user, acknowledged or not;
 * - no unhandled rejection, no uncaught exception, no 'error' event emitted without a listener;
 * - the pending table, the delivery queue, the write queue and the dedup window stay within
 *   their bounds (sampled, plus an exact hook on the delivery queue);
 * - after destroy() no socket, server or timer is left behind.
 *
 * Usable from jest specs and from plain scripts (scripts/soak.ts).
 */
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import type { Logger } from 'pino';
import { startEmulator, type Emulator, type EmulatorOptions } from '../../lib/emulator/index.js';
import { createLogger } from '../../lib/user/logger.js';
import { MCUser } from '../../lib/user/mcuser.js';
import type { MCUserOptions, P2PMessage, P2TMessage, ServerAck } from '../../lib/user/types.js';
import { endpointOptions } from './transport.js';

// ---- the process --------------------------------------------------------------------------------

/**
 * The real `process`. Jest gives each test file a copy of it whose listeners never fire, so the
 * outer realm's object is reached through a core-module function (core modules are not sandboxed).
 */
export function realProcess(): NodeJS.Process {
  const OuterFunction = (EventEmitter as unknown as { constructor: FunctionConstructor }).constructor;
  return OuterFunction('return process')() as NodeJS.Process;
}

/** Records unhandled rejections, uncaught exceptions and 'error' events nobody listens to. */
export class ProcessWatch {
  readonly problems: string[] = [];
  private readonly proc = realProcess();
  private originalEmit: typeof EventEmitter.prototype.emit | null = null;

  private readonly onRejection = (reason: unknown): void => {
    this.problems.push(`unhandledRejection: ${describe(reason)}`);
  };

  private readonly onException = (err: unknown): void => {
    this.problems.push(`uncaughtException: ${describe(err)}`);
  };

  private patchedEmit: typeof EventEmitter.prototype.emit | null = null;
  private active = false;

  install(): this {
    this.proc.on('unhandledRejection', this.onRejection);
    this.proc.on('uncaughtException', this.onException);
    const original = EventEmitter.prototype.emit;
    this.originalEmit = original;
    this.active = true;
    const watch = this;
    this.patchedEmit = function patchedEmit(this: EventEmitter, event: string | symbol, ...args: unknown[]): boolean {
      if (watch.active && event === 'error' && this.listenerCount('error') === 0) {
        watch.problems.push(`unhandled 'error' event on ${this.constructor?.name ?? 'an emitter'}: ${describe(args[0])}`);
      }
      return original.call(this, event, ...args);
    } as typeof EventEmitter.prototype.emit;
    EventEmitter.prototype.emit = this.patchedEmit;
    return this;
  }

  uninstall(): void {
    this.proc.off('unhandledRejection', this.onRejection);
    this.proc.off('uncaughtException', this.onException);
    this.active = false;
    // only undo our own patch: a watch installed later (and still active) keeps working
    if (this.originalEmit && EventEmitter.prototype.emit === this.patchedEmit) EventEmitter.prototype.emit = this.originalEmit;
    this.originalEmit = null;
    this.patchedEmit = null;
  }
}

function describe(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  return String(value);
}

/** Resources keeping the event loop alive, by kind (ref'd timers, sockets, servers). */
export function activeHandles(): { sockets: number; servers: number; timers: number; all: string[] } {
  const all = realProcess().getActiveResourcesInfo();
  return {
    sockets: all.filter((r) => r === 'TCPSocketWrap' || r === 'TCPWRAP').length,
    servers: all.filter((r) => r === 'TCPServerWrap').length,
    timers: all.filter((r) => r === 'Timeout').length,
    all,
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves when `predicate` holds (checked every `everyMs`); false if it still fails at the deadline. */
export async function waitFor(predicate: () => boolean, timeoutMs: number, everyMs = 5): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) return false;
    await sleep(everyMs);
  }
  return true;
}

/** A pino logger (the SDK's redaction rules) writing into memory, for assertions on what was logged. */
export function logCapture(level = 'trace'): { logger: Logger; text(): string; records(): Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, callback) {
      chunks.push(String(chunk));
      callback();
    },
  });
  const records = () =>
    chunks
      .join('')
      .split('\n')
      .filter((line) => line.length > 0)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { logger: createLogger({ level, destination: sink }), text: () => chunks.join(''), records };
}

/**
 * What the emulator holds back for `appAccount`: bytes its sockets did not hand to the kernel yet,
 * messages waiting in its live queues, and whether a writer is blocked (socket.write said false).
 * Proof that TCP backpressure reached the server. Reads emulator internals (no public gauge).
 */
export function serverBacklog(emulator: Emulator, appAccount: string): { socketBytes: number; liveMessages: number; blocked: boolean } {
  type Conn = { appAccount?: string; socket: { writableLength: number }; delivery?: { live?: unknown[] }; writer?: { blocked?: boolean } };
  const core = (emulator as unknown as { core?: { connections?: Set<Conn> } }).core;
  if (!core?.connections) throw new Error('emulator internals changed: no core.connections');
  const out = { socketBytes: 0, liveMessages: 0, blocked: false };
  for (const conn of core.connections) {
    if (conn.appAccount !== appAccount) continue;
    if (!Array.isArray(conn.delivery?.live) || typeof conn.writer?.blocked !== 'boolean') throw new Error('emulator internals changed: no delivery.live / writer.blocked');
    out.socketBytes += conn.socket.writableLength;
    out.liveMessages += conn.delivery.live.length;
    out.blocked ||= conn.writer.blocked;
  }
  return out;
}

// ---- MCUser internals the bounds are read from ----------------------------------------------------

interface UserInternals {
  deliveries: unknown[];
  seen: { size: number; capacity: number };
  pending: { size: number; capacity: number };
  session: { connection?: { queue?: unknown[] } } | null;
}

interface FacadeParts {
  incoming?: { queue?: unknown[]; finished?: { size: number; capacity: number } };
  outgoing?: { pending?: { size: number; capacity: number } };
  lifecycle?: { session?: UserInternals['session'] };
}

/** The private bounded structures of an MCUser; throws if their shape changed (so a check never passes vacuously). */
export function internals(user: MCUser): UserInternals {
  const parts = user as unknown as FacadeParts;
  const deliveries = parts.incoming?.queue;
  const seen = parts.incoming?.finished;
  const pending = parts.outgoing?.pending;
  if (!Array.isArray(deliveries)) throw new Error('MCUser internals changed: no incoming queue');
  if (typeof seen?.size !== 'number' || typeof seen.capacity !== 'number') throw new Error('MCUser internals changed: no dedup window');
  if (typeof pending?.size !== 'number' || typeof pending.capacity !== 'number') throw new Error('MCUser internals changed: no pending table');
  return {
    deliveries,
    seen,
    pending,
    get session() {
      return parts.lifecycle?.session ?? null;
    },
  };
}

// ---- the harness ---------------------------------------------------------------------------------

/** Options the reliability scenarios use unless they say otherwise: short timeouts, quick reconnects. */
export const FAST_USER: Partial<MCUserOptions> = {
  sendTimeoutMs: 1000,
  connectTimeoutMs: 500,
  loginTimeoutMs: 500,
  pingIntervalMs: 200,
  responseTimeoutMs: 300,
  reconnect: { minDelayMs: 10, maxDelayMs: 100 },
};

type Kind = 'p2p' | 'p2t';

export interface SendRecord {
  id: string;
  kind: Kind;
  from: Tracked;
  /** Account (P2P) or topic id (P2T). */
  to: string | bigint;
  payload: Uint8Array;
  isStore: boolean;
  at: number;
  /** Outcomes seen by the delegates and by the events. */
  acks: ServerAck[];
  timeouts: number;
  ackEvents: number;
  timeoutEvents: number;
  firstOutcomeAt: number;
}

export interface Tracked {
  readonly user: MCUser;
  readonly account: string;
  readonly name: string;
  readonly options: MCUserOptions;
  /** Sends recorded per packet id. */
  readonly sends: Map<string, SendRecord>;
  /** Deliveries to this user (delegate calls / 'message' events), keyed by sender resource + packet id. */
  readonly delivered: Map<string, number>;
  readonly deliveredEvents: Map<string, number>;
  /** Messages the SDK gave up on after the last handler attempt (an outcome, like a delivery). */
  readonly deadLettered: Map<string, number>;
  /** Called by the message delegates before they return (a slow or failing handler). */
  handler: ((messages: Array<P2PMessage | P2TMessage>) => void | Promise<void>) | undefined;
  destroyed: boolean;
  /** Whether the user should be online when the scenario settles (false after logout/kick the scenario keeps). */
  wantOnline: boolean;
  loginErrors: string[];
  /** statusChange events: online/offline with the reason type. */
  statuses: Array<{ online: boolean; type?: string }>;
  peaks: { pending: number; deliveries: number; dedup: number; writeQueue: number };
}

export interface HarnessOptions {
  emulator?: EmulatorOptions;
  /** MCUser options every user gets (FAST_USER by default). */
  user?: Partial<MCUserOptions>;
  /** Bounds sampling period; 0 turns sampling off. Default 10 ms. */
  sampleEveryMs?: number;
  /** Reach the frontend through the resolver (as in production) instead of its address. Default false. */
  useResolver?: boolean;
}

export interface SendOptions {
  isStore?: boolean;
  /** Payload size (the default payload only names the message). */
  size?: number;
  /** Exact payload bytes (otherwise one that names the message). */
  payload?: Uint8Array;
}

export interface Summary {
  sent: number;
  refused: number;
  acked: number;
  rejected: number;
  timedOut: number;
  delivered: number;
  duplicatesSuppressed: number;
  /** Messages given up after their last handler attempt (each an outcome, not a loss). */
  deadLettered: number;
  lost: number;
  violations: number;
}

const key = (account: string, resource: string, packetId: string): string => `${account}/${resource}|${packetId}`;

export class Harness {
  readonly users: Tracked[] = [];
  readonly watch = new ProcessWatch();
  /** Violations noticed while running (late callbacks, bad payloads, bound overruns...). */
  readonly running: string[] = [];
  private readonly topics = new Map<bigint, Set<string>>();
  private readonly bySender = new Map<string, SendRecord>();
  private refusedCount = 0;
  private sampler: NodeJS.Timeout | null = null;
  private readonly baseline: ReturnType<typeof activeHandles>;
  private counter = 0;
  private closed = false;

  private constructor(
    readonly emulator: Emulator,
    private readonly options: HarnessOptions,
    baseline: ReturnType<typeof activeHandles>,
  ) {
    this.baseline = baseline;
    const every = options.sampleEveryMs ?? 10;
    if (every > 0) this.sampler = setInterval(() => this.sample(), every);
  }

  static async start(options: HarnessOptions = {}): Promise<Harness> {
    const baseline = activeHandles();
    const emulator = await startEmulator(options.emulator);
    const harness = new Harness(emulator, options, baseline);
    harness.watch.install();
    return harness;
  }

  /** The user options in force (harness defaults merged). */
  get userDefaults(): Partial<MCUserOptions> {
    return { ...FAST_USER, ...this.options.user };
  }

  // ---- users --------------------------------------------------------------------------------------

  user(account: string, options: Partial<MCUserOptions> = {}): Tracked {
    const emulator = this.emulator;
    const name = `${account}#${++this.counter}`;
    const merged: MCUserOptions = {
      appId: emulator.app.appId,
      appAccount: account,
      tokenDelegate: { fetchToken: () => emulator.fetchToken(account) },
      ...endpointOptions(emulator, options, this.options.useResolver ? { resolverUrl: emulator.resolverUrl } : { frontendAddress: emulator.frontend }),
      ...this.userDefaults,
      ...options,
    };
    let tracked!: Tracked;
    const late = (what: string) => {
      if (tracked.destroyed) this.running.push(`${name}: ${what} after destroy()`);
    };
    const received = (messages: Array<P2PMessage | P2TMessage>, counts: Map<string, number>) => {
      for (const m of messages) {
        const k = key(m.fromAccount, m.fromResource, m.packetId);
        counts.set(k, (counts.get(k) ?? 0) + 1);
        const sent = this.bySender.get(k);
        if (!sent) this.running.push(`${name}: received ${k}, which nobody sent`);
        else if (!Buffer.from(sent.payload).equals(Buffer.from(m.payload))) this.running.push(`${name}: payload of ${k} differs from what was sent`);
      }
    };
    // a delivery counts once the handler succeeded: a failed attempt is retried by the SDK
    const onMessages = async (messages: Array<P2PMessage | P2TMessage>) => {
      late('a message delivery');
      await tracked.handler?.(messages);
      received(messages, tracked.delivered);
    };
    const outcome = (packetId: string, what: 'ack' | 'timeout', ack?: ServerAck) => {
      late(`a send outcome (${what})`);
      const record = tracked.sends.get(packetId);
      if (!record) {
        this.running.push(`${name}: ${what} for ${packetId}, which this harness did not send`);
        return;
      }
      if (record.firstOutcomeAt === 0) record.firstOutcomeAt = Date.now();
      if (what === 'ack') record.acks.push(ack!);
      else record.timeouts += 1;
    };
    const user = new MCUser({
      ...merged,
      messageDelegate: {
        handleMessage: onMessages,
        handleGroupMessage: onMessages,
        handleServerAck: (ack) => outcome(ack.packetId, 'ack', ack),
        handleSendMessageTimeout: (m) => outcome(m.packetId, 'timeout'),
        handleSendGroupMessageTimeout: (m) => outcome(m.packetId, 'timeout'),
        handleDeadLetter: (letter) => received(letter.messages, tracked.deadLettered),
      },
    });
    user.on('serverAck', (ack) => {
      const record = tracked.sends.get(ack.packetId);
      if (record) record.ackEvents += 1;
    });
    user.on('sendTimeout', ({ message }) => {
      const record = tracked.sends.get(message.packetId);
      if (record) record.timeoutEvents += 1;
    });
    user.on('statusChange', (change) => {
      late(`statusChange ${change.isOnline}`);
      tracked.statuses.push({ online: change.isOnline, ...(change.errorType === undefined ? {} : { type: change.errorType }) });
    });
    user.on('stateChange', (state) => late(`stateChange to ${state}`));
    user.on('message', (m) => received([m], tracked.deliveredEvents));
    user.on('groupMessage', (m) => received([m], tracked.deliveredEvents));
    tracked = {
      user,
      account,
      name,
      options: merged,
      sends: new Map(),
      delivered: new Map(),
      deadLettered: new Map(),
      deliveredEvents: new Map(),
      handler: undefined,
      destroyed: false,
      wantOnline: true,
      loginErrors: [],
      statuses: [],
      peaks: { pending: 0, deliveries: 0, dedup: 0, writeQueue: 0 },
    };
    this.hookDeliveryQueue(tracked);
    this.users.push(tracked);
    return tracked;
  }

  /** Exact peak of the delivery queue: every push is observed, not only sampled. */
  private hookDeliveryQueue(t: Tracked): void {
    const queue = internals(t.user).deliveries;
    const push = Array.prototype.push;
    Object.defineProperty(queue, 'push', {
      value: function (this: unknown[], ...items: unknown[]): number {
        const n = push.apply(this, items);
        if (n > t.peaks.deliveries) t.peaks.deliveries = n;
        return n;
      },
    });
  }

  /** Logs in; failures are recorded (the scenario decides whether they matter). */
  async login(t: Tracked, timeoutMs = 10_000): Promise<boolean> {
    t.wantOnline = true;
    try {
      await t.user.login({ timeoutMs });
      return true;
    } catch (err) {
      t.loginErrors.push(describe(err));
      return false;
    }
  }

  async loginAll(users: Tracked[] = this.users): Promise<void> {
    const results = await Promise.all(users.map((t) => this.login(t)));
    const failed = users.filter((_, i) => !results[i]).map((t) => `${t.name}: ${t.loginErrors.at(-1)}`);
    if (failed.length > 0) throw new Error(`login failed: ${failed.join('; ')}`);
  }

  destroy(t: Tracked): void {
    t.user.destroy();
    t.destroyed = true;
    t.wantOnline = false;
  }

  createTopic(owner: Tracked, members: Tracked[]): bigint {
    const id = this.emulator.createTopic(owner.account, members.map((m) => m.account));
    this.topics.set(id, new Set([owner.account, ...members.map((m) => m.account)]));
    return id;
  }

  // ---- sending ------------------------------------------------------------------------------------

  /** A payload that names its message, so deliveries can be checked byte for byte. */
  payloadFor(from: Tracked, n: number, size = 0): Uint8Array {
    const head = Buffer.from(`${from.name}:${n}:`);
    if (size <= head.length) return head;
    const out = Buffer.alloc(size, 0x2e);
    head.copy(out);
    return out;
  }

  /** sendMessage, recorded; undefined when the SDK refused synchronously (not logged in, closed, full). */
  send(from: Tracked, toAccount: string, options: SendOptions = {}): string | undefined {
    return this.record(from, 'p2p', toAccount, options, (payload, isStore) => from.user.sendMessage(toAccount, payload, { isStore }));
  }

  /**
   * sendMessageAndWait, recorded; resolves with 'acked' or the MIMCError code it rejected with.
   * (Its packet id is read from the pending table, where the send has just put it.)
   */
  sendAndWait(from: Tracked, toAccount: string, options: SendOptions = {}): Promise<string> {
    let waiting: Promise<unknown> = Promise.resolve();
    const id = this.record(from, 'p2p', toAccount, options, (payload, isStore) => {
      waiting = from.user.sendMessageAndWait(toAccount, payload, { isStore });
      const slots = (from.user as unknown as { outgoing: { pending: { slots?: Map<string, unknown> } } }).outgoing.pending.slots;
      if (!(slots instanceof Map)) throw new Error('MCUser internals changed: no pending.slots map');
      return [...slots.keys()].at(-1)!;
    });
    if (id === undefined) return Promise.resolve('refused');
    return waiting.then(
      () => 'acked',
      (err: unknown) => (err && typeof err === 'object' && 'code' in err ? String((err as { code: unknown }).code) : String(err)),
    );
  }

  sendGroup(from: Tracked, topicId: bigint, options: SendOptions = {}): string | undefined {
    return this.record(from, 'p2t', topicId, options, (payload, isStore) => from.user.sendGroupMessage(topicId, payload, { isStore }));
  }

  private record(
    from: Tracked,
    kind: Kind,
    to: string | bigint,
    options: SendOptions,
    send: (payload: Uint8Array, isStore: boolean) => string,
  ): string | undefined {
    const isStore = options.isStore ?? true;
    const payload = options.payload ?? this.payloadFor(from, from.sends.size + this.refusedCount + 1, options.size);
    const record: SendRecord = {
      id: '',
      kind,
      from,
      to,
      payload,
      isStore,
      at: Date.now(),
      acks: [],
      timeouts: 0,
      ackEvents: 0,
      timeoutEvents: 0,
      firstOutcomeAt: 0,
    };
    let id: string;
    // The outcome may only come asynchronously, so the record can be filed after the call.
    try {
      id = send(payload, isStore);
    } catch {
      this.refusedCount += 1;
      return undefined;
    }
    record.id = id;
    from.sends.set(id, record);
    this.bySender.set(key(from.account, from.user.resource, id), record);
    return id;
  }

  // ---- waiting ------------------------------------------------------------------------------------

  private allSends(): SendRecord[] {
    return this.users.flatMap((t) => [...t.sends.values()]);
  }

  private maxSendTimeout(): number {
    return Math.max(...this.users.map((t) => t.options.sendTimeoutMs ?? 10_000), 0);
  }

  /** Who must hold every acknowledged stored message of a send at the end, by send target (computed once per check). */
  private receiverIndex(): (record: SendRecord) => Tracked[] {
    const byAccount = new Map<string, Tracked[]>();
    for (const t of this.users) {
      if (t.destroyed || !t.wantOnline) continue;
      const list = byAccount.get(t.account);
      if (list) list.push(t);
      else byAccount.set(t.account, [t]);
    }
    const byTopic = new Map<bigint, Tracked[]>();
    return (record) => {
      if (record.kind === 'p2p') return byAccount.get(record.to as string) ?? [];
      const topicId = record.to as bigint;
      let members = byTopic.get(topicId);
      if (!members) {
        members = [...(this.topics.get(topicId) ?? [])].flatMap((account) => byAccount.get(account) ?? []);
        byTopic.set(topicId, members);
      }
      return members.filter((t) => t !== record.from);
    };
  }

  private acceptedStored(record: SendRecord): boolean {
    return record.isStore && record.acks.length > 0 && record.acks[0]!.errorMsg === '' && record.acks[0]!.code === 0;
  }

  private missing(limit = Number.POSITIVE_INFINITY): Array<{ record: SendRecord; receiver: Tracked }> {
    const out: Array<{ record: SendRecord; receiver: Tracked }> = [];
    const receiversOf = this.receiverIndex();
    for (const t of this.users) {
      for (const record of t.sends.values()) {
        if (!this.acceptedStored(record)) continue;
        const k = key(record.from.account, record.from.user.resource, record.id);
        for (const receiver of receiversOf(record)) {
          if (receiver.delivered.has(k) || receiver.deadLettered.has(k)) continue;
          out.push({ record, receiver });
          if (out.length >= limit) return out;
        }
      }
    }
    return out;
  }

  /**
   * Lets the scenario end: every send reaches its outcome (at most sendTimeoutMs after the last
   * send, plus slack), users that should be online log in again (after a kick, say), and every
   * acknowledged stored message reaches its receivers. Then a quiet period catches duplicates
   * and late callbacks. Returns false if deliveries were still missing at the deadline.
   */
  async settle(options: { deliveryTimeoutMs?: number; quietMs?: number } = {}): Promise<boolean> {
    const sends = this.allSends();
    const lastSend = sends.reduce((max, r) => Math.max(max, r.at), 0);
    const horizon = lastSend + this.maxSendTimeout() + 1500;
    const every = Math.max(10, Math.ceil(sends.length / 2000));
    await waitFor(() => sends.every((r) => r.acks.length + r.timeouts > 0), Math.max(0, horizon - Date.now()), every);
    const relogins = this.users.filter((t) => t.wantOnline && !t.destroyed && t.user.state === 'offline').map((t) => this.login(t));
    await Promise.all(relogins);
    const complete = await waitFor(() => this.missing(1).length === 0, options.deliveryTimeoutMs ?? 10_000, every);
    await sleep(options.quietMs ?? 250);
    return complete;
  }

  // ---- checking -----------------------------------------------------------------------------------

  private sample(): void {
    for (const t of this.users) {
      if (t.destroyed) continue;
      const u = internals(t.user);
      const p = t.peaks;
      p.pending = Math.max(p.pending, u.pending.size);
      p.deliveries = Math.max(p.deliveries, u.deliveries.length);
      p.dedup = Math.max(p.dedup, u.seen.size);
      p.writeQueue = Math.max(p.writeQueue, u.session?.connection?.queue?.length ?? 0);
      if (t.user.pendingCount !== u.pending.size) this.running.push(`${t.name}: pendingCount disagrees with the pending table`);
    }
  }

  /** Every invariant breach so far (empty = all held). */
  violations(): string[] {
    const out = [...this.running, ...this.watch.problems];
    for (const t of this.users) {
      for (const r of t.sends.values()) {
        const outcomes = r.acks.length + r.timeouts;
        if (outcomes === 0) out.push(`${t.name}: ${r.id} has no outcome ${Date.now() - r.at} ms after the send`);
        if (outcomes > 1) out.push(`${t.name}: ${r.id} has ${r.acks.length} acks and ${r.timeouts} timeouts`);
        if (r.ackEvents !== r.acks.length || r.timeoutEvents !== r.timeouts) {
          out.push(`${t.name}: ${r.id} events (${r.ackEvents} acks, ${r.timeoutEvents} timeouts) disagree with the delegates`);
        }
        const limit = (t.options.sendTimeoutMs ?? 10_000) + 1500;
        if (r.firstOutcomeAt > 0 && r.firstOutcomeAt - r.at > limit) out.push(`${t.name}: ${r.id} outcome came ${r.firstOutcomeAt - r.at} ms after the send`);
      }
      for (const [k, n] of t.delivered) if (n > 1) out.push(`${t.name}: ${k} delivered ${n} times`);
      for (const [k, n] of t.deadLettered) if (n > 1 || t.delivered.has(k)) out.push(`${t.name}: ${k} dead-lettered ${n} times (delivered ${t.delivered.get(k) ?? 0})`);
      for (const [k, n] of t.deliveredEvents) if (n > 1) out.push(`${t.name}: ${k} emitted ${n} times`);
      for (const [k, n] of t.delivered) if ((t.deliveredEvents.get(k) ?? 0) !== n) out.push(`${t.name}: ${k} delegate and event counts differ`);
      const o = t.options;
      const p = t.peaks;
      const maxPending = o.maxPendingMessages ?? 10_000;
      // stored messages may exceed the bound up to twice (the server's window holds them back); see IncomingPipeline
      const maxQueued = 2 * (o.maxQueuedMessages ?? (o.maxQueuedDeliveries === undefined ? 5_000 : o.maxQueuedDeliveries * 100));
      const dedup = o.dedupWindow ?? 10_000;
      if (p.pending > maxPending) out.push(`${t.name}: ${p.pending} pending messages (bound ${maxPending})`);
      if (p.deliveries > maxQueued) out.push(`${t.name}: ${p.deliveries} queued deliveries (bound ${maxQueued})`);
      if (p.dedup > dedup) out.push(`${t.name}: dedup window of ${p.dedup} (bound ${dedup})`);
      const writeBound = maxPending + maxQueued + 64;
      if (p.writeQueue > writeBound) out.push(`${t.name}: ${p.writeQueue} frames in the write queue (bound ${writeBound})`);
    }
    for (const { record, receiver } of this.missing()) out.push(`lost: ${record.from.name} → ${receiver.name} ${record.id} (acked, isStore)`);
    return out;
  }

  summary(): Summary {
    const sends = this.allSends();
    let delivered = 0;
    let duplicates = 0;
    let deadLettered = 0;
    for (const t of this.users) {
      for (const n of t.delivered.values()) delivered += n;
      for (const n of t.deadLettered.values()) deadLettered += n;
      duplicates += t.user.metrics().duplicatesDropped;
    }
    return {
      sent: sends.length,
      refused: this.refusedCount,
      acked: sends.filter((r) => r.acks.length > 0).length,
      rejected: sends.filter((r) => r.acks.length > 0 && (r.acks[0]!.errorMsg !== '' || r.acks[0]!.code !== 0)).length,
      timedOut: sends.filter((r) => r.timeouts > 0).length,
      delivered,
      duplicatesSuppressed: duplicates,
      deadLettered,
      lost: this.missing().length,
      violations: this.violations().length,
    };
  }

  // ---- shutdown -----------------------------------------------------------------------------------

  /**
   * Destroys every user, then checks that they let go of everything: the emulator sees their
   * sockets close, and once it is closed too no socket, server or extra timer is left. Returns
   * the handle violations (also added to `violations()`).
   */
  async shutdown(options: { graceMs?: number } = {}): Promise<string[]> {
    const grace = options.graceMs ?? 3000;
    if (this.closed) return [];
    this.closed = true;
    if (this.sampler) clearInterval(this.sampler);
    this.sampler = null;
    for (const t of this.users) if (!t.destroyed) this.destroy(t);
    const problems: string[] = [];
    for (const t of this.users) {
      if (t.user.state !== 'closed') problems.push(`${t.name}: state ${t.user.state} after destroy()`);
      if (t.user.pendingCount !== 0) problems.push(`${t.name}: ${t.user.pendingCount} pending after destroy()`);
    }
    // The users' sockets are closed: the emulator notices every one of them.
    if (!(await waitFor(() => this.emulator.stats.connections === 0, grace))) {
      problems.push(`${this.emulator.stats.connections} connections still open at the emulator after destroy()`);
    }
    await this.emulator.close();
    const settled = await waitFor(() => {
      const now = activeHandles();
      return now.sockets <= this.baseline.sockets && now.servers <= this.baseline.servers && now.timers <= this.baseline.timers;
    }, grace);
    if (!settled) problems.push(`handles left after destroy(): ${JSON.stringify(activeHandles().all)} (baseline ${JSON.stringify(this.baseline.all)})`);
    this.watch.uninstall();
    this.running.push(...problems);
    return problems;
  }
}
