import { MIMCError, ErrorCode } from '../errors.js';
import { transientCopy } from '../protocol/bytes.js';
import { PacketType } from '../protocol/constants.js';
import { encodeP2PMessage, encodeP2TMessage, type MimcPacket, type PacketAck } from '../protocol/packets.js';
import { UC_MAX_PAYLOAD_BYTES, UcType, encodeUcMessage, encodeUcPacket } from '../protocol/uc.js';
import { JsonSafeValue } from '../json-safe.js';
import type { IdGenerator } from './ids.js';
import type { UserMetrics } from './metrics.js';
import { GroupMessageValue, P2PMessageValue, type MessageFields } from './messages.js';
import { PendingTable } from './pending.js';
import type { Session } from './session.js';
import type { P2PMessage, P2TMessage, SendAndWaitOptions, SendOptions, ServerAck, UCMessage } from './types.js';

/** A message that got no server ack in time (or was still pending at logout/destroy). */
export type SendTimeout = { kind: 'p2p'; message: P2PMessage } | { kind: 'p2t'; message: P2TMessage } | { kind: 'uc'; message: UCMessage };

export type OutgoingKind = 'p2p' | 'p2t' | 'online' | 'uc';

/** Where a message goes: an account (P2P, online) or a topic (P2T, unlimited group). */
export interface Destination {
  kind: OutgoingKind;
  toAccount: string;
  topicId: bigint;
}

export interface OutgoingSettings {
  sendTimeoutMs: number;
  maxPendingMessages: number;
  maxPayloadBytes: number;
}

/** What the outgoing part needs from its owner. */
export interface OutgoingHost {
  readonly appId: bigint;
  readonly appAccount: string;
  /** The current resource (a method: an accessor in the host literal would put it in slow dictionary mode). */
  resource(): string;
  readonly ids: IdGenerator;
  readonly counters: UserMetrics;
  /** Throws the MIMCError that explains why nothing can be sent now (closed, closing, not logged in). */
  checkCanSend(): void;
  /** The bound session, or null while offline. */
  boundSession(): Session | null;
  onServerAck(ack: ServerAck): void;
  onSendTimeout(timeout: SendTimeout): void;
}

interface Waiter {
  resolve(ack: ServerAck): void;
  reject(err: MIMCError): void;
}

interface Outgoing extends Destination {
  packetId: string;
  payload: Uint8Array;
  isStore: boolean;
  bizType: string | undefined;
  conversation: boolean;
  sentAt: number;
  written: boolean;
  waiter: Waiter | undefined;
}

/** The ServerAck the app gets: a class, so its exact JSON costs nothing per ack (see JsonSafeValue). */
class ServerAckValue extends JsonSafeValue implements ServerAck {
  /** Set only when the server assigned one (`conversation: true`). */
  declare convIndex?: bigint;

  constructor(
    public packetId: string,
    public sequence: bigint,
    public timestamp: number,
    public errorMsg: string,
    public code: number,
    convIndex: bigint | undefined,
  ) {
    super();
    if (convIndex !== undefined) this.convIndex = convIndex;
  }
}

const PACKET_TYPE = { p2p: PacketType.P2P_MESSAGE, p2t: PacketType.P2T_MESSAGE, online: PacketType.ONLINE_MESSAGE, uc: PacketType.UC_PACKET } as const;

/**
 * The send side: every message enters the pending table at once and leaves it through exactly
 * one door — its server ack, its timeout, or `abandon` (logout/destroy, reported as a timeout).
 * Messages sent while offline wait in the same table and are written when a session comes up.
 */
export class OutgoingMessages {
  private readonly pending: PendingTable<Outgoing>;
  private emptyWaiter: (() => void) | null = null;

  constructor(
    private readonly settings: OutgoingSettings,
    private readonly host: OutgoingHost,
  ) {
    this.pending = new PendingTable(settings.maxPendingMessages, settings.sendTimeoutMs, this.handleTimeout);
  }

  /** Messages awaiting an ack (written or waiting for a connection). */
  get size(): number {
    return this.pending.size;
  }

  /** Messages not yet written (waiting for a connection). */
  get queued(): number {
    let n = 0;
    for (const entry of this.pending.values()) if (!entry.written) n++;
    return n;
  }

  /** Accepts a message; returns its packet id. Throws MIMCError on bad input or a full table. */
  send(to: Destination, payload: Uint8Array, options: SendOptions, waiter?: Waiter): string {
    this.host.checkCanSend();
    if (!(payload instanceof Uint8Array)) throw new MIMCError(ErrorCode.INVALID_ARGUMENT, 'payload must be a Uint8Array or Buffer');
    // the server's cap for unlimited groups is smaller than ours for P2P
    const max = to.kind === 'uc' ? Math.min(this.settings.maxPayloadBytes, UC_MAX_PAYLOAD_BYTES) : this.settings.maxPayloadBytes;
    if (payload.length > max) {
      throw new MIMCError(ErrorCode.PAYLOAD_TOO_LARGE, `payload of ${payload.length} bytes exceeds ${max}`, { details: { length: payload.length, max } });
    }
    if (options.isStore !== undefined && typeof options.isStore !== 'boolean') throw new MIMCError(ErrorCode.INVALID_ARGUMENT, 'isStore must be a boolean');
    if (options.bizType !== undefined && typeof options.bizType !== 'string') throw new MIMCError(ErrorCode.INVALID_ARGUMENT, 'bizType must be a string');
    if (options.conversation !== undefined && typeof options.conversation !== 'boolean') throw new MIMCError(ErrorCode.INVALID_ARGUMENT, 'conversation must be a boolean');
    // spelled out, not spread: `{ ...to, more }` takes V8's slow path (about 2 µs per message)
    const entry: Outgoing = {
      kind: to.kind,
      toAccount: to.toAccount,
      topicId: to.topicId,
      packetId: this.host.ids.next(),
      // copied: the app may reuse its buffer before the message is written. Pooled: the copy
      // lives until the ack (a timeout hands it to the app: rare enough to pin a pool slab)
      payload: transientCopy(payload),
      isStore: options.isStore ?? true,
      bizType: options.bizType,
      conversation: options.conversation === true,
      sentAt: Date.now(),
      written: false,
      waiter,
    };
    this.pending.add(entry.packetId, entry);
    this.host.counters.sent += 1;
    const session = this.host.boundSession();
    if (session) this.write(entry, session);
    return entry.packetId;
  }

  /** Like `send`, resolving with the ack; rejects with ERR_SEND_TIMEOUT, ERR_SERVER_REJECTED, ERR_ABORTED, ... */
  sendAndWait(to: Destination, payload: Uint8Array, options: SendAndWaitOptions): Promise<ServerAck> {
    return new Promise<ServerAck>((resolve, reject) => {
      const signal = options.signal;
      if (signal?.aborted) return reject(new MIMCError(ErrorCode.ABORTED, 'send aborted', { cause: signal.reason }));
      let done = false;
      const onAbort = () => settle(() => reject(new MIMCError(ErrorCode.ABORTED, 'stopped waiting for the ack', { cause: signal?.reason })));
      const settle = (fn: () => void) => {
        if (done) return;
        done = true;
        signal?.removeEventListener('abort', onAbort);
        fn();
      };
      const waiter: Waiter = { resolve: (ack) => settle(() => resolve(ack)), reject: (err) => settle(() => reject(err)) };
      try {
        this.send(to, payload, options, waiter);
      } catch (err) {
        return reject(err);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** A session came up: write what waited for it, in send order. */
  flush(session: Session): void {
    for (const entry of this.pending.values()) if (!entry.written) this.write(entry, session);
  }

  /** A server ack (PACKET_ACK or ONLINE_MESSAGE_ACK) arrived. */
  settle(ack: Pick<PacketAck, 'packetId' | 'sequence' | 'timestamp' | 'errorMsg' | 'code' | 'convIndex'>): void {
    const entry = this.pending.settle(ack.packetId);
    if (!entry) return; // timed out already, or never ours: its one outcome was reported
    const counters = this.host.counters;
    counters.acked += 1;
    counters.observeAckLatency(Date.now() - entry.sentAt);
    const serverAck = new ServerAckValue(ack.packetId, ack.sequence, Number(ack.timestamp), ack.errorMsg, ack.code ?? 0, ack.convIndex);
    const refused = serverAck.errorMsg !== '' || serverAck.code !== 0;
    if (refused) counters.rejected += 1;
    this.notifyIfEmpty();
    this.host.onServerAck(serverAck);
    if (!entry.waiter) return;
    if (!refused) return entry.waiter.resolve(serverAck);
    entry.waiter.reject(
      new MIMCError(ErrorCode.SERVER_REJECTED, `server refused the message: ${serverAck.errorMsg || serverAck.code}`, {
        details: { packetId: serverAck.packetId, code: serverAck.code, errorMsg: serverAck.errorMsg },
      }),
    );
  }

  /** Ends every pending message as a timeout with `reason` (logout, destroy). */
  abandon(reason: MIMCError): void {
    for (const [, entry] of this.pending.drain()) this.reportTimeout(entry, reason);
  }

  /** Resolves when no message awaits an ack, or after `timeoutMs` (graceful close). */
  async drained(timeoutMs: number): Promise<void> {
    if (this.pending.size === 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.emptyWaiter = done;
    });
    this.emptyWaiter = null;
  }

  private notifyIfEmpty(): void {
    if (this.pending.size === 0) this.emptyWaiter?.();
  }

  private write(entry: Outgoing, session: Session): void {
    const { appId, appAccount } = this.host;
    const token = session.token;
    const from = { appId, appAccount, uuid: token.uuid, resource: this.host.resource() };
    const { payload, isStore, bizType } = entry; // an undefined bizType is left out of the encoding
    const inner =
      entry.kind === 'uc'
        ? encodeUcPacket({
            user: from,
            type: UcType.MESSAGE,
            payload: encodeUcMessage({ group: { appId, topicId: entry.topicId }, user: from, packetId: entry.packetId, payload, isStore, bizType }),
            packetId: entry.packetId,
          })
        : entry.kind === 'p2t'
          ? encodeP2TMessage({ from, to: { appId, topicId: entry.topicId }, payload, isStore, bizType })
          : encodeP2PMessage({ from, to: { appId, appAccount: entry.toAccount, uuid: 0n, resource: '' }, payload, isStore, bizType });
    const packet: MimcPacket = { packetId: entry.packetId, package: token.appPackage, type: PACKET_TYPE[entry.kind], payload: inner };
    if (entry.conversation && entry.kind !== 'uc') packet.conversation = true;
    // a message whose timeout fired while it sat in the write queue is never written
    if (session.sendPacket(packet, true, () => this.pending.has(entry.packetId))) entry.written = true;
  }

  private readonly handleTimeout = (_id: string, entry: Outgoing): void => {
    this.reportTimeout(
      entry,
      new MIMCError(ErrorCode.SEND_TIMEOUT, `no server ack within ${this.settings.sendTimeoutMs} ms`, { details: { packetId: entry.packetId } }),
    );
  };

  private reportTimeout(entry: Outgoing, reason: MIMCError): void {
    this.host.counters.timedOut += 1;
    this.notifyIfEmpty();
    const fields: MessageFields = {
      packetId: entry.packetId,
      sequence: 0n,
      timestamp: entry.sentAt,
      fromAccount: this.host.appAccount,
      fromResource: this.host.resource(),
      payload: entry.payload,
      bizType: entry.bizType ?? '',
      isStore: entry.isStore,
    };
    this.host.onSendTimeout(
      entry.kind === 'p2t' || entry.kind === 'uc'
        ? { kind: entry.kind, message: new GroupMessageValue(fields, entry.topicId) }
        : { kind: 'p2p', message: new P2PMessageValue(fields, entry.toAccount) },
    );
    entry.waiter?.reject(reason);
  }
}
