import type { Logger } from 'pino';
import { MIMCError, ErrorCode } from '../errors.js';
import { PacketType } from '../protocol/constants.js';
import type { GroupRef } from '../protocol/proto-fields.js';
import {
  UcType,
  decodeUcGroupRequest,
  decodeUcGroupResponse,
  decodeUcMessageList,
  decodeUcOnlineUsers,
  decodeUcPacket,
  encodeUcGroupRequest,
  encodeUcPacket,
  encodeUcPing,
  encodeUcSequenceAck,
  type UcMessage,
  type UcMessageList,
} from '../protocol/uc.js';
import type { IdGenerator } from './ids.js';
import { IncomingPipeline, type IncomingHost, type IncomingSettings } from './incoming.js';
import type { UserMetrics } from './metrics.js';
import type { Session } from './session.js';
import { GroupMessageValue } from './messages.js';
import type { DeadLetter, MessageBatch, UCMessage } from './types.js';

export interface UnlimitedSettings {
  /** Time allowed for the server's answer to a JOIN, QUIT or online-count query. */
  requestTimeoutMs: number;
  /** UC keep-alive: a UCPing listing every joined group, this often while online. */
  pingIntervalMs: number;
  /** Groups one user may be in at once (each has its own receive pipeline). */
  maxGroups: number;
  incoming: IncomingSettings;
}

/** What the unlimited-group part needs from its owner. */
export interface UnlimitedHost {
  readonly appId: bigint;
  readonly appAccount: string;
  /** The current resource (a method: an accessor in the host literal would put it in slow dictionary mode). */
  resource(): string;
  readonly ids: IdGenerator;
  readonly log: Logger;
  readonly counters: UserMetrics;
  /** Throws the MIMCError that explains why nothing can be sent now (closed, closing, not logged in). */
  checkCanSend(): void;
  boundSession(): Session | null;
  invokeHandler(batch: MessageBatch): void | Promise<void>;
  onHandled(batch: MessageBatch): void;
  onDeadLetter(letter: DeadLetter): void;
  onDismissed(topicId: bigint): void;
  dropConnection(error: MIMCError): void;
}

interface Group {
  readonly topicId: bigint;
  readonly pipeline: IncomingPipeline;
  /** JOIN_RESP ok on the current session. */
  joined: boolean;
}

interface Request {
  type: typeof UcType.JOIN | typeof UcType.QUIT | typeof UcType.QUERY_ONLINE_USERS;
  topicId: bigint;
  written: boolean;
  timer: NodeJS.Timeout;
  resolve(value: bigint | undefined): void;
  reject(err: MIMCError): void;
}

const REQUEST_NAME = { [UcType.JOIN]: 'JOIN', [UcType.QUIT]: 'QUIT', [UcType.QUERY_ONLINE_USERS]: 'QUERY_ONLINE_USERS' } as const;

/**
 * Unlimited groups (UC): membership, the JOIN/QUIT/query requests (each ends in one answer or
 * one timeout), re-join after every reconnect, the UC keep-alive, and one receive pipeline per
 * group — UC sequences are the server's per group, so dedup and acks are per group too; the
 * delivery semantics are those of P2P. Sending rides the shared outgoing part.
 */
export class UnlimitedGroups {
  private readonly groups = new Map<bigint, Group>();
  private readonly requests = new Map<string, Request>();
  private pingTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly settings: UnlimitedSettings,
    private readonly host: UnlimitedHost,
  ) {}

  /** Groups joined (or being re-joined after a reconnect), as exact ids. */
  get joined(): bigint[] {
    return [...this.groups.keys()];
  }

  has(topicId: bigint): boolean {
    return this.groups.has(topicId);
  }

  get queuedMessages(): number {
    let n = 0;
    for (const g of this.groups.values()) n += g.pipeline.queuedMessages;
    return n;
  }

  get backpressured(): boolean {
    for (const g of this.groups.values()) if (g.pipeline.backpressured) return true;
    return false;
  }

  /** Joins; resolves when the server confirmed. Joining a joined group resolves at once. */
  async join(topicId: bigint): Promise<void> {
    this.host.checkCanSend();
    if (this.groups.get(topicId)?.joined) return;
    if (!this.groups.has(topicId) && this.groups.size >= this.settings.maxGroups) {
      throw new MIMCError(ErrorCode.UC_GROUP_LIMIT, `already in ${this.settings.maxGroups} unlimited groups (maxUnlimitedGroups)`);
    }
    await this.request(UcType.JOIN, topicId);
  }

  /** Quits; resolves when the server confirmed. The group's undelivered messages are dropped. */
  async quit(topicId: bigint): Promise<void> {
    this.host.checkCanSend();
    if (!this.groups.has(topicId)) throw notJoined(topicId);
    await this.request(UcType.QUIT, topicId);
  }

  /** Accounts joined to the group right now. */
  async onlineUsers(topicId: bigint): Promise<bigint> {
    this.host.checkCanSend();
    return (await this.request(UcType.QUERY_ONLINE_USERS, topicId))!;
  }

  /** Throws ERR_UC_NOT_JOINED unless the group is joined (or being re-joined). */
  checkJoined(topicId: bigint): void {
    if (!this.groups.has(topicId)) throw notJoined(topicId);
  }

  /** A session came up: re-join every group and write the waiting requests, before any message. */
  onOnline(session: Session): void {
    const joining = new Set<bigint>();
    for (const r of this.requests.values()) if (r.type === UcType.JOIN) joining.add(r.topicId);
    for (const group of this.groups.values()) {
      group.joined = false;
      if (!joining.has(group.topicId)) this.writeRejoin(group, session);
    }
    for (const [packetId, request] of this.requests) if (!request.written) this.writeRequest(packetId, request, session);
    this.schedulePing();
  }

  /** A UC_PACKET arrived on the bound session. */
  onPacket(payload: Uint8Array): void {
    const uc = decodeUcPacket(payload);
    if (uc.user.appAccount !== this.host.appAccount) {
      this.host.log.warn({ type: uc.type }, 'ignored a UC packet addressed to another user');
      return;
    }
    switch (uc.type) {
      case UcType.JOIN_RESP:
      case UcType.QUIT_RESP:
        return this.onGroupResponse(uc.packetId, uc.type, uc.payload);
      case UcType.QUERY_ONLINE_USERS_RESP: {
        const request = this.takeRequest(uc.packetId, UcType.QUERY_ONLINE_USERS);
        request?.resolve(decodeUcOnlineUsers(uc.payload).userCount);
        return;
      }
      case UcType.MESSAGE_LIST:
        return this.onMessageList(decodeUcMessageList(uc.payload));
      case UcType.DISMISS:
        return this.onDismiss(decodeUcGroupRequest(uc.payload));
      case UcType.PONG:
        return; // liveness only: any frame proves the connection alive
      default:
        this.host.log.debug({ type: uc.type }, 'ignored a UC packet type');
    }
  }

  /** For logout: lets each group's handler in progress finish and write its ack. */
  async quiesce(timeoutMs: number): Promise<void> {
    await Promise.all([...this.groups.values()].map((g) => g.pipeline.quiesce(timeoutMs)));
  }

  /**
   * Logout or destroy: every request ends with `reason`, pipelines forget what is unfinished
   * (the server redelivers it to a member that joins again), the keep-alive stops. Membership
   * is dropped too: after a new login the app joins again.
   */
  close(reason: MIMCError): void {
    this.stopPing();
    for (const [packetId, request] of this.requests) {
      this.requests.delete(packetId);
      clearTimeout(request.timer);
      request.reject(reason);
    }
    for (const group of this.groups.values()) group.pipeline.close();
    this.groups.clear();
  }

  /** The session went: requests wait for the next one, groups are re-joined then. */
  onOffline(): void {
    this.stopPing();
    for (const group of this.groups.values()) group.joined = false;
    for (const request of this.requests.values()) request.written = false;
  }

  // ---- internals ------------------------------------------------------------------------------

  private request(type: Request['type'], topicId: bigint): Promise<bigint | undefined> {
    return new Promise((resolve, reject) => {
      const packetId = this.host.ids.next();
      const ms = this.settings.requestTimeoutMs;
      const timer = setTimeout(() => {
        if (!this.requests.delete(packetId)) return;
        this.host.counters.timedOut += 1;
        // a group never confirmed is not kept: the rejected join must mean "not joined"
        const group = this.groups.get(topicId);
        if (type === UcType.JOIN && group && !group.joined) this.forget(group);
        reject(new MIMCError(ErrorCode.SEND_TIMEOUT, `no answer to UC ${REQUEST_NAME[type]} within ${ms} ms`, { details: { packetId, topicId: topicId.toString() } }));
      }, ms);
      const request: Request = { type, topicId, written: false, timer, resolve, reject };
      this.requests.set(packetId, request);
      if (type === UcType.JOIN && !this.groups.has(topicId)) this.groups.set(topicId, this.newGroup(topicId));
      const session = this.host.boundSession();
      if (session) this.writeRequest(packetId, request, session);
    });
  }

  private writeRequest(packetId: string, request: Request, session: Session): void {
    request.written = this.write(session, request.type, encodeUcGroupRequest(this.ref(request.topicId)), packetId, true);
  }

  private writeRejoin(group: Group, session: Session): void {
    const packetId = this.host.ids.next();
    // an internal JOIN: its answer is matched by type and group, not by a waiter
    this.write(session, UcType.JOIN, encodeUcGroupRequest(this.ref(group.topicId)), packetId, true);
  }

  private write(session: Session, type: number, payload: Uint8Array, packetId: string, expectsReply: boolean): boolean {
    const token = session.token;
    const user = { appId: this.host.appId, appAccount: this.host.appAccount, uuid: token.uuid, resource: this.host.resource() };
    return session.sendPacket(
      { packetId, package: token.appPackage, type: PacketType.UC_PACKET, payload: encodeUcPacket({ user, type, payload, packetId }) },
      expectsReply,
    );
  }

  private takeRequest(packetId: string, type: Request['type']): Request | undefined {
    const request = this.requests.get(packetId);
    if (!request || request.type !== type) return undefined;
    this.requests.delete(packetId);
    clearTimeout(request.timer);
    return request;
  }

  private onGroupResponse(packetId: string, type: typeof UcType.JOIN_RESP | typeof UcType.QUIT_RESP, payload: Uint8Array): void {
    const answer = decodeUcGroupResponse(payload);
    const joining = type === UcType.JOIN_RESP;
    const request = this.takeRequest(packetId, joining ? UcType.JOIN : UcType.QUIT);
    const topicId = request?.topicId ?? answer.group.topicId;
    const group = this.groups.get(topicId);
    if (!request && (!joining || !group || group.joined)) {
      this.host.log.debug({ topicId: topicId.toString() }, 'ignored an unsolicited UC answer');
      return;
    }
    if (answer.code === 0) {
      if (joining && group) {
        group.joined = true;
        this.schedulePing();
      } else if (!joining && group) this.forget(group);
      request?.resolve(undefined);
      return;
    }
    const details = { topicId: topicId.toString(), code: answer.code, message: answer.message ?? '' };
    if (joining && group && !group.joined) this.forget(group); // the server refused: not a member
    if (!request) this.host.log.warn(details, 'the server refused to re-join an unlimited group');
    request?.reject(new MIMCError(ErrorCode.UC_REFUSED, `UC ${joining ? 'JOIN' : 'QUIT'} refused: ${answer.code} ${answer.message ?? ''}`.trim(), { details }));
  }

  private onMessageList(list: UcMessageList): void {
    const group = this.groups.get(list.group.topicId);
    if (!group) {
      this.host.log.debug({ topicId: list.group.topicId.toString() }, 'ignored a UC list of a group not joined');
      return; // not acknowledged: nothing of it was taken
    }
    let max = list.maxSequence;
    for (const m of list.messages) if (m.sequence !== undefined && (max === undefined || m.sequence > max)) max = m.sequence;
    if (max === undefined) return;
    group.pipeline.acceptItems(list.messages, max, (m) => ({ kind: 'uc', message: toUCMessage(m, group.topicId) }));
  }

  private onDismiss(ref: GroupRef): void {
    const group = this.groups.get(ref.topicId);
    if (!group) return;
    this.forget(group);
    for (const [packetId, request] of this.requests) {
      if (request.topicId !== group.topicId) continue;
      this.requests.delete(packetId);
      clearTimeout(request.timer);
      request.reject(new MIMCError(ErrorCode.UC_REFUSED, 'the unlimited group was dismissed', { details: { topicId: group.topicId.toString(), code: 404 } }));
    }
    this.host.onDismissed(group.topicId);
  }

  private forget(group: Group): void {
    group.pipeline.close();
    this.groups.delete(group.topicId);
    if (this.groups.size === 0) this.stopPing();
  }

  private newGroup(topicId: bigint): Group {
    const host = this.host;
    const pipelineHost: IncomingHost = {
      log: host.log,
      counters: host.counters,
      invokeHandler: (batch) => host.invokeHandler(batch),
      onHandled: (batch) => host.onHandled(batch),
      onDeadLetter: (letter) => host.onDeadLetter(letter),
      onPullNotification: () => {},
      writeSequenceAck: (sequence) => {
        const session = host.boundSession();
        if (!session) return false;
        return this.write(session, UcType.SEQ_ACK, encodeUcSequenceAck({ group: this.ref(topicId), sequence }), host.ids.next(), false);
      },
      dropConnection: (error) => host.dropConnection(error),
    };
    return { topicId, joined: false, pipeline: new IncomingPipeline(this.settings.incoming, pipelineHost) };
  }

  private schedulePing(): void {
    if (this.pingTimer || this.groups.size === 0 || !this.host.boundSession()) return;
    this.pingTimer = setInterval(this.ping, this.settings.pingIntervalMs);
  }

  private stopPing(): void {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
  }

  private readonly ping = (): void => {
    const session = this.host.boundSession();
    if (!session || this.groups.size === 0) return this.stopPing();
    this.write(session, UcType.PING, encodeUcPing([...this.groups.keys()].map((id) => this.ref(id))), this.host.ids.next(), true);
  };

  private ref(topicId: bigint): GroupRef {
    return { appId: this.host.appId, topicId };
  }
}

function notJoined(topicId: bigint): MIMCError {
  return new MIMCError(ErrorCode.UC_NOT_JOINED, `unlimited group ${topicId} is not joined`, { details: { topicId: topicId.toString() } });
}

export function toUCMessage(m: UcMessage, topicId: bigint): UCMessage {
  const fields = {
    packetId: m.packetId ?? '',
    sequence: m.sequence ?? 0n,
    timestamp: Number(m.timestamp ?? 0n),
    fromAccount: m.user?.appAccount ?? '',
    fromResource: m.user?.resource ?? '',
    payload: m.payload,
    bizType: m.bizType ?? '',
    isStore: m.isStore ?? false,
  };
  return new GroupMessageValue(fields, topicId);
}
