import type { Logger } from 'pino';
import { MIMCError, ErrorCode } from '../errors.js';
import { withJsonSafe } from '../json-safe.js';
import { backoffDelay } from './backoff.js';
import { PacketType, PushStatus } from '../protocol/constants.js';
import type { MimcPacket, PacketList } from '../protocol/packets.js';
import { SequenceWindow } from './dedup.js';
import { toP2PMessage, toP2TMessage } from './messages.js';
import type { UserMetrics } from './metrics.js';
import type { AckMode, DeadLetter, HandlerRetryOptions, MessageBatch, P2PMessage, P2TMessage, UCMessage } from './types.js';

export interface IncomingSettings {
  ackMode: AckMode;
  dedupWindow: number;
  /** Messages waiting for the app; beyond it live (isStore=false) messages are dropped. */
  maxQueuedMessages: number;
  handlerTimeoutMs: number;
  retry: Required<HandlerRetryOptions>;
}

/** What the pipeline needs from its owner. */
export interface IncomingHost {
  /** Runs the app's handler for one batch; it may throw, reject or never settle. */
  invokeHandler(batch: MessageBatch): void | Promise<void>;
  /** A batch was handled: tell the observers (events, iterators). */
  onHandled(batch: MessageBatch): void;
  onDeadLetter(letter: DeadLetter): void;
  /** The server has more waiting than it sent (status EXCEED_COUNT_LIMIT). */
  onPullNotification(list: PacketList): void;
  /** Writes a SEQUENCE_ACK on the bound session; false when there is none (the server then redelivers). */
  writeSequenceAck(sequence: bigint): boolean;
  /** Closes the current connection: the server sent past every bound. */
  dropConnection(error: MIMCError): void;
  readonly log: Logger;
  readonly counters: UserMetrics;
}

/**
 * Per-message state. `handled` and `dead-lettered` are final: the sequence leaves the queue
 * and enters the dedup window, and only then can a SEQUENCE_ACK cover it.
 */
type EntryState = 'received' | 'handling' | 'failed';

/** A message of a list, decoded: what a batch of its kind carries. */
export type DecodedItem = { kind: 'p2p'; message: P2PMessage } | { kind: 'p2t'; message: P2TMessage } | { kind: 'uc'; message: UCMessage };

/** One entry of a server list: its sequence (the list's decoder turns only new ones into messages). */
export interface IncomingItem {
  sequence?: bigint;
}

/** Decodes an item of a list into the message its batch carries; null if unparsable (logged). */
export type ItemDecoder<T extends IncomingItem> = (item: T) => DecodedItem | null;

interface Entry {
  sequence: bigint;
  kind: MessageBatch['kind'];
  message: P2PMessage | P2TMessage | UCMessage;
  /** Which list brought it: a batch never spans lists, so the handler sees the server's grouping. */
  list: number;
  state: EntryState;
  attempts: number;
  /** performance.now() at receipt, for the delivery-duration histogram. */
  receivedAt: number;
}

/** A received list, waiting until every sequence in it is finished before it is acknowledged. */
interface ListRecord {
  maxSequence: bigint;
  sequences: bigint[];
}

/** How many of the largest batch of one kind the handler gets at once. */
const MAX_BATCH = 100;

/**
 * The receive path: received → handling → handled | failed(n) → dead-lettered, one batch at a
 * time in sequence order. A failed or timed-out handler call is retried with backoff; after the
 * last attempt the batch is dead-lettered, so one poison message cannot block a user for good.
 * The ack policy is derived from the entries: in `after-handler` mode a list's SEQUENCE_ACK is
 * written once every sequence in it (and in every list before it) is finished.
 *
 * The socket is never paused for the app: reading continues (acks of own sends, pongs), and
 * memory is bounded by `maxQueuedMessages` — beyond it live messages are dropped and counted;
 * stored ones are held back by the server's own window, and a server that floods past twice
 * the bound loses its connection (what was not acknowledged is redelivered after the reconnect).
 */
export class IncomingPipeline {
  private readonly finished: SequenceWindow;
  /** Unfinished messages, sorted by sequence. */
  private readonly queue: Entry[] = [];
  /** Created when the first message is queued: most users idle with nothing unfinished. */
  private unfinished: Map<bigint, Entry> | null = null;
  private readonly lists: ListRecord[] = [];
  private listCounter = 0;
  /** Cancels waits and ignores late handler results of the current generation (logout, destroy). */
  private generation: AbortController | null = null;
  /** The batch being worked on, or null. */
  private active: Promise<void> | null = null;
  /** Interrupts a retry backoff when the pipeline is paused. */
  private backoff: AbortController | null = null;
  private paused = false;
  private closed = false;
  private overflowWarned = false;
  private retryWarned = false;

  constructor(
    private readonly settings: IncomingSettings,
    private readonly host: IncomingHost,
  ) {
    this.finished = new SequenceWindow(settings.dedupWindow);
  }

  /** Messages waiting for, or being handled by, the app. */
  get queuedMessages(): number {
    return this.queue.length;
  }

  /** Sequences remembered for dropping duplicates. */
  get dedupSize(): number {
    return this.finished.size;
  }

  /** True while the app is the bottleneck: the queue is at its bound or a batch is being retried. */
  get backpressured(): boolean {
    return this.queue.length >= this.settings.maxQueuedMessages || this.queue[0]?.state === 'failed';
  }

  /** Takes a COMPOUND list from the bound session. */
  acceptList(list: PacketList): void {
    if (!this.accept(list.packets, list.maxSequence, (packet) => this.decodePacket(packet))) return;
    if (list.status === PushStatus.EXCEED_COUNT_LIMIT) this.host.onPullNotification(list);
    this.advanceAcks();
    this.pump();
  }

  /**
   * Takes one server list of any kind (the unlimited-group part feeds its lists here): each item
   * is decoded only if it is new. An ack of the list covers `maxSequence`.
   */
  acceptItems<T extends IncomingItem>(items: readonly T[], maxSequence: bigint, decode: ItemDecoder<T>): void {
    if (!this.accept(items, maxSequence, decode)) return;
    this.advanceAcks();
    this.pump();
  }

  /** False when nothing of the list was taken (closed, paused, flooded): it is not acknowledged. */
  private accept<T extends IncomingItem>(items: readonly T[], maxSequence: bigint, decode: ItemDecoder<T>): boolean {
    if (this.closed || this.paused) return false; // not acknowledged: the server sends it again at the next login
    const fresh: Entry[] = [];
    const sequences = new Set<bigint>();
    const id = ++this.listCounter;
    let duplicates = 0;
    for (const item of items) {
      const sequence = item.sequence;
      if (sequence === undefined) continue;
      if (sequences.has(sequence) || this.finished.has(sequence) || this.unfinished?.has(sequence)) {
        duplicates++;
        sequences.add(sequence);
        continue;
      }
      sequences.add(sequence);
      const decoded = decode(item);
      if (decoded) fresh.push({ kind: decoded.kind, message: decoded.message, sequence, list: id, state: 'received', attempts: 0, receivedAt: performance.now() });
      else this.finish(sequence); // unparsable: logged, and it cannot block the acks
    }
    this.host.counters.duplicatesDropped += duplicates;
    if (this.queue.length + fresh.length > 2 * this.settings.maxQueuedMessages) {
      // Only a server ignoring its own window gets here; nothing of this list was taken or acknowledged.
      this.host.dropConnection(
        new MIMCError(ErrorCode.DELIVERY_OVERFLOW, `more than ${2 * this.settings.maxQueuedMessages} incoming messages waiting for the app`),
      );
      return false;
    }
    for (const entry of fresh) {
      if (this.queue.length >= this.settings.maxQueuedMessages && !entry.message.isStore) {
        this.dropLive(entry);
        continue;
      }
      this.insert(entry);
    }
    if (this.settings.ackMode === 'before-handler') this.host.writeSequenceAck(maxSequence);
    else this.lists.push({ maxSequence, sequences: [...sequences] });
    return true;
  }

  /**
   * For logout: stops taking new batches, lets the handler call in progress finish (at most
   * `timeoutMs`) and writes the acks it earns — all before the caller writes UBND.
   */
  async quiesce(timeoutMs: number): Promise<void> {
    this.paused = true;
    this.backoff?.abort();
    const active = this.active;
    if (!active) return;
    // a reset (destroy, an aborted logout) ends the wait too: no timer outlives the user
    const generation = this.generationSignal();
    let timer: NodeJS.Timeout | undefined;
    let stop: (() => void) | undefined;
    await Promise.race([
      active,
      new Promise<void>((resolve) => {
        stop = () => resolve();
        timer = setTimeout(stop, timeoutMs);
        generation.addEventListener('abort', stop, { once: true });
      }),
    ]);
    clearTimeout(timer);
    if (stop) generation.removeEventListener('abort', stop);
  }

  /**
   * Forgets everything unfinished (the server redelivers it at the next login) and ignores late
   * handler results. The dedup window stays, so nothing handled reaches the app twice.
   */
  reset(): void {
    // created again only when something waits on it: an idle pipeline holds no controller
    this.generation?.abort();
    this.generation = null;
    this.backoff?.abort();
    this.queue.length = 0;
    this.unfinished = null;
    this.lists.length = 0;
    this.active = null;
    this.paused = false;
  }

  private generationSignal(): AbortSignal {
    return (this.generation ??= new AbortController()).signal;
  }

  /** For destroy: like reset, and nothing is accepted any more. */
  close(): void {
    this.reset();
    this.closed = true;
  }

  // ---- internals ------------------------------------------------------------------------------

  private decodePacket(packet: MimcPacket): DecodedItem | null {
    try {
      if (packet.type === PacketType.P2P_MESSAGE) return { kind: 'p2p', message: toP2PMessage(packet) };
      if (packet.type === PacketType.P2T_MESSAGE) return { kind: 'p2t', message: toP2TMessage(packet) };
      this.host.log.debug({ type: packet.type }, 'ignored a listed packet of another type');
    } catch (err) {
      this.host.log.warn({ packetId: packet.packetId, code: MIMCError.is(err) ? err.code : undefined }, 'dropped an unparsable message');
    }
    return null;
  }


  private insert(entry: Entry): void {
    (this.unfinished ??= new Map()).set(entry.sequence, entry);
    let at = this.queue.length;
    while (at > 0 && this.queue[at - 1]!.sequence > entry.sequence) at--; // lists arrive in order: usually no step
    if (at === this.queue.length) this.queue.push(entry);
    else this.queue.splice(at, 0, entry);
  }

  private dropLive(entry: Entry): void {
    this.host.counters.deliveriesDropped += 1;
    this.finish(entry.sequence);
    if (!this.overflowWarned) {
      this.overflowWarned = true;
      this.host.log.warn({ queued: this.queue.length, bound: this.settings.maxQueuedMessages }, 'the app is behind: dropping live (isStore=false) messages');
    }
  }

  /** A sequence reached a final state: it becomes a duplicate from now on. */
  private finish(sequence: bigint): void {
    this.unfinished?.delete(sequence);
    this.finished.add(sequence, this.queue[0]?.sequence);
  }

  /** Writes one cumulative ack for every leading list whose sequences are all finished. */
  private advanceAcks(): void {
    let ack: bigint | undefined;
    while (this.lists.length > 0 && this.lists[0]!.sequences.every((s) => this.finished.has(s))) {
      const list = this.lists.shift()!;
      if (ack === undefined || list.maxSequence > ack) ack = list.maxSequence;
    }
    if (ack !== undefined) this.host.writeSequenceAck(ack);
  }

  private pump(): void {
    if (this.active || this.paused || this.closed || this.queue.length === 0) return;
    const signal = this.generationSignal();
    this.active = (async () => {
      while (!signal.aborted && !this.paused && this.queue.length > 0) await this.runBatch(this.nextBatch(), signal);
    })().finally(() => {
      if (!signal.aborted) this.active = null;
    });
  }

  private nextBatch(): Entry[] {
    const first = this.queue[0]!;
    let end = 1;
    while (end < this.queue.length && end < MAX_BATCH && this.queue[end]!.kind === first.kind && this.queue[end]!.list === first.list) end++;
    return this.queue.slice(0, end);
  }

  private async runBatch(entries: Entry[], signal: AbortSignal): Promise<void> {
    const batch = { kind: entries[0]!.kind, messages: entries.map((e) => e.message) } as MessageBatch;
    const { maxAttempts } = this.settings.retry;
    for (;;) {
      const attempt = entries[0]!.attempts + 1;
      for (const e of entries) {
        e.state = 'handling';
        e.attempts = attempt;
      }
      if (attempt === 1) this.host.counters.received += entries.length;
      const started = performance.now();
      const error = await this.callHandler(batch, signal);
      if (signal.aborted) return; // reset or destroyed: the server redelivers what was not acknowledged
      this.host.counters.observeHandlerDuration(performance.now() - started);
      if (!error) {
        this.retryWarned = false;
        this.complete(entries);
        this.host.onHandled(batch);
        this.advanceAcks();
        return;
      }
      for (const e of entries) e.state = 'failed';
      if (attempt >= maxAttempts) {
        this.host.counters.deadLettered += entries.length;
        this.host.log.error({ kind: batch.kind, messages: entries.length, attempts: attempt, code: error.code }, 'dead-lettered a batch after its last attempt');
        this.complete(entries);
        this.host.onDeadLetter(withJsonSafe({ ...batch, attempts: attempt, error } as DeadLetter));
        this.advanceAcks();
        return;
      }
      const delay = this.retryDelay(attempt);
      const log = { kind: batch.kind, messages: entries.length, attempt, retryInMs: delay, code: error.code };
      if (!this.retryWarned) this.host.log.warn(log, 'a message handler failed; retrying');
      else this.host.log.debug(log, 'a message handler failed again');
      this.retryWarned = true;
      if (this.paused || !(await this.sleep(delay, signal)) || this.paused) return; // resumed at the next login, if ever
    }
  }

  private complete(entries: Entry[]): void {
    this.queue.splice(0, entries.length);
    const now = performance.now();
    for (const e of entries) {
      this.finish(e.sequence);
      this.host.counters.observeDeliveryDuration(now - e.receivedAt);
    }
    if (this.queue.length === 0) this.overflowWarned = false;
  }

  /** One handler call, bounded by `handlerTimeoutMs`; resolves with the failure, or null. A late completion is ignored. */
  private async callHandler(batch: MessageBatch, signal: AbortSignal): Promise<MIMCError | null> {
    const ms = this.settings.handlerTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    try {
      const call = new Promise<void>((resolve) => resolve(this.host.invokeHandler(batch)));
      const outcome = await Promise.race([
        call.then(() => 'ok' as const),
        new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms))),
        new Promise<'aborted'>((resolve) => signal.addEventListener('abort', (onAbort = () => resolve('aborted')), { once: true })),
      ]);
      if (outcome === 'timeout') {
        this.host.counters.handlerTimeouts += 1;
        return new MIMCError(ErrorCode.HANDLER_TIMEOUT, `the ${batch.kind} handler did not settle within ${ms} ms`);
      }
      return null;
    } catch (err) {
      this.host.counters.handlerFailures += 1;
      return new MIMCError(ErrorCode.HANDLER_FAILED, `the ${batch.kind} handler failed`, { cause: err });
    } finally {
      clearTimeout(timer);
      if (onAbort) signal.removeEventListener('abort', onAbort);
    }
  }

  private retryDelay(attempt: number): number {
    return backoffDelay(this.settings.retry, attempt);
  }

  /** Resolves true after `ms`, false if interrupted (pause, reset, destroy). */
  private sleep(ms: number, signal: AbortSignal): Promise<boolean> {
    const backoff = (this.backoff = new AbortController());
    return new Promise((resolve) => {
      const done = (slept: boolean) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', interrupt);
        backoff.signal.removeEventListener('abort', interrupt);
        if (this.backoff === backoff) this.backoff = null;
        resolve(slept);
      };
      const interrupt = () => done(false);
      const timer = setTimeout(() => done(true), ms);
      signal.addEventListener('abort', interrupt, { once: true });
      backoff.signal.addEventListener('abort', interrupt, { once: true });
    });
  }
}
