/**
 * Unlimited groups (UC) in the emulator: groups without a member cap, membership per
 * (account, resource), per-group stored messages with sequences unique across all groups,
 * and a delivery window of one unacknowledged MESSAGE_LIST per connection and group, as for
 * stored P2P. A member that reconnects and joins again gets what it had not acknowledged.
 * Connections write the frames through `UcPeer`.
 */
import { UcType, encodeUcGroupRequest, encodeUcMessageList, type UcMessage } from '../protocol/uc.js';
import type { GroupRef, UserRef } from '../protocol/proto-fields.js';
import { MIMCError, ErrorCode } from '../errors.js';
import { AckCode, type RouteResult } from './acks.js';
import { randomBigId, type Account } from './store.js';
import type { EmulatorStats } from './types.js';

/** Messages of one MESSAGE_LIST, as the server's P2P lists. */
export const UC_LIST_SIZE = 100;

/** Stored messages kept per group by default; the oldest go first (a member behind them skips them). */
export const UC_MAX_STORED_PER_GROUP = 10_000;

/** Unlimited groups at once by default. */
export const UC_MAX_GROUPS = 10_000;

/** What the UC service needs of a connection. */
export interface UcPeer {
  readonly ucIdentity: { account: Account; resource: string } | null;
  /** Writes a downstream UCPacket (`user` = the recipient) in its own SECMSG. */
  sendUc(type: number, payload: Uint8Array, delayable: boolean): void;
}

interface StoredUc {
  sequence: bigint;
  message: UcMessage;
  senderUuid: bigint;
  senderResource: string;
}

export interface UcGroup {
  readonly topicId: bigint;
  readonly name: string;
  readonly owner: Account;
  readonly createdAt: number;
  /** uuid → resource → acknowledged sequence; stays across disconnects until QUIT or dismiss. */
  readonly members: Map<bigint, { account: Account; acked: Map<string, bigint> }>;
  /** Connections joined right now, with the maxSequence of their list in flight (or null). */
  readonly online: Map<UcPeer, { inFlight: bigint | null }>;
  readonly stored: StoredUc[];
}

export class UnlimitedGroups {
  private readonly groups = new Map<bigint, UcGroup>();
  /** Every connection's joined groups, to leave them when it goes. */
  private readonly byPeer = new Map<UcPeer, Set<UcGroup>>();
  private sequence = 0n;

  constructor(
    private readonly appId: bigint,
    private readonly limits: { maxGroups: number; storedPerGroup: number; stats: Pick<EmulatorStats, 'unlimitedGroups'> } = {
      maxGroups: UC_MAX_GROUPS,
      storedPerGroup: UC_MAX_STORED_PER_GROUP,
      stats: { unlimitedGroups: 0 },
    },
  ) {}

  get size(): number {
    return this.groups.size;
  }

  group(topicId: bigint): UcGroup | undefined {
    return this.groups.get(topicId);
  }

  /** Throws ERR_LIMIT_REACHED when `maxUnlimitedGroups` groups exist. */
  create(owner: Account, name: string): UcGroup {
    if (this.groups.size >= this.limits.maxGroups) {
      throw new MIMCError(ErrorCode.LIMIT_REACHED, `the emulator keeps at most ${this.limits.maxGroups} unlimited groups (option maxUnlimitedGroups)`);
    }
    let topicId = randomBigId();
    while (this.groups.has(topicId)) topicId = randomBigId();
    const group: UcGroup = { topicId, name, owner, createdAt: Date.now(), members: new Map(), online: new Map(), stored: [] };
    this.groups.set(topicId, group);
    this.limits.stats.unlimitedGroups = this.groups.size;
    return group;
  }

  /** The groups `account` is a member of (on any resource). */
  groupsOf(account: Account): UcGroup[] {
    return [...this.groups.values()].filter((g) => g.members.has(account.uuid));
  }

  /** Accounts with at least one connection joined right now. */
  onlineCount(group: UcGroup): number {
    const uuids = new Set<bigint>();
    for (const peer of group.online.keys()) if (peer.ucIdentity) uuids.add(peer.ucIdentity.account.uuid);
    return uuids.size;
  }

  /** Dismisses `group`: every joined connection gets DISMISS; nothing of it remains. */
  dismiss(group: UcGroup): void {
    this.groups.delete(group.topicId);
    this.limits.stats.unlimitedGroups = this.groups.size;
    const payload = encodeUcGroupRequest(this.ref(group));
    for (const peer of group.online.keys()) {
      this.byPeer.get(peer)?.delete(group);
      peer.sendUc(UcType.DISMISS, payload, true);
    }
    group.online.clear();
    group.members.clear();
  }

  join(peer: UcPeer, topicId: bigint): number {
    const who = peer.ucIdentity;
    const group = this.groups.get(topicId);
    if (!who || !group) return AckCode.NOT_FOUND;
    let member = group.members.get(who.account.uuid);
    if (!member) {
      member = { account: who.account, acked: new Map() };
      group.members.set(who.account.uuid, member);
    }
    // A new member starts at the present; a returning one gets what it had not acknowledged.
    if (!member.acked.has(who.resource)) member.acked.set(who.resource, this.sequence);
    if (!group.online.has(peer)) group.online.set(peer, { inFlight: null });
    let joined = this.byPeer.get(peer);
    if (!joined) this.byPeer.set(peer, (joined = new Set()));
    joined.add(group);
    return AckCode.OK;
  }

  quit(peer: UcPeer, topicId: bigint): number {
    const who = peer.ucIdentity;
    const group = this.groups.get(topicId);
    if (!who || !group) return AckCode.NOT_FOUND;
    const member = group.members.get(who.account.uuid);
    if (!member?.acked.has(who.resource)) return AckCode.FORBIDDEN;
    member.acked.delete(who.resource);
    if (member.acked.size === 0) group.members.delete(who.account.uuid);
    group.online.delete(peer);
    this.byPeer.get(peer)?.delete(group);
    return AckCode.OK;
  }

  /** The connection went (closed, unbound): its groups stop sending to it; membership stays. */
  peerGone(peer: UcPeer): void {
    for (const group of this.byPeer.get(peer) ?? []) group.online.delete(peer);
    this.byPeer.delete(peer);
  }

  /** A member's message: stored (and pumped to every joined connection) or sent live. */
  send(peer: UcPeer, message: UcMessage, sender: UserRef, maxPayload: number): RouteResult {
    const timestamp = BigInt(Date.now());
    const refuse = (code: number, errorMsg: string): RouteResult => ({ code, errorMsg, sequence: 0n, timestamp });
    const group = this.groups.get(message.group.topicId);
    if (!group || message.group.appId !== this.appId) return refuse(AckCode.NOT_FOUND, 'unlimited group not found');
    if (!group.online.has(peer)) return refuse(AckCode.FORBIDDEN, 'join the unlimited group before sending to it');
    if (message.payload.length > maxPayload) return refuse(AckCode.BAD_REQUEST, `payload over ${maxPayload} bytes`);
    const sequence = ++this.sequence;
    const who = peer.ucIdentity!;
    const delivered: UcMessage = {
      group: this.ref(group),
      payload: message.payload,
      sequence,
      isStore: message.isStore === true,
      user: sender,
      timestamp,
      packetId: message.packetId ?? '',
      bizType: message.bizType ?? '',
    };
    if (delivered.isStore) {
      group.stored.push({ sequence, message: delivered, senderUuid: who.account.uuid, senderResource: who.resource });
      if (group.stored.length > this.limits.storedPerGroup) group.stored.shift();
      for (const other of group.online.keys()) this.pump(other, group);
    } else {
      for (const other of group.online.keys()) {
        const them = other.ucIdentity;
        if (other === peer || !them) continue;
        other.sendUc(UcType.MESSAGE_LIST, this.listPayload(group, [delivered], undefined), true);
      }
    }
    return { code: AckCode.OK, errorMsg: '', sequence, timestamp };
  }

  /**
   * SEQ_ACK: acknowledges the list in flight when it covers its maxSequence (an ack of a live
   * list moves nothing: stored messages not yet sent must not be skipped). False for a sequence
   * never assigned.
   */
  ack(peer: UcPeer, topicId: bigint, sequence: bigint): boolean {
    if (sequence > this.sequence) return false;
    const group = this.groups.get(topicId);
    const state = group?.online.get(peer);
    const who = peer.ucIdentity;
    if (!group || !state || !who || state.inFlight === null || sequence < state.inFlight) return true;
    const member = group.members.get(who.account.uuid);
    const acked = member?.acked.get(who.resource);
    if (member && acked !== undefined && state.inFlight > acked) member.acked.set(who.resource, state.inFlight);
    state.inFlight = null;
    this.pump(peer, group);
    return true;
  }

  /** Sends the next list of stored messages `peer` has not acknowledged, unless one is in flight. */
  pump(peer: UcPeer, group: UcGroup): void {
    const state = group.online.get(peer);
    const who = peer.ucIdentity;
    if (!state || !who || state.inFlight !== null) return;
    const member = group.members.get(who.account.uuid);
    const acked = member?.acked.get(who.resource);
    if (!member || acked === undefined) return;
    const batch: UcMessage[] = [];
    let last = acked;
    for (let i = this.firstAfter(group, acked); i < group.stored.length && batch.length < UC_LIST_SIZE; i++) {
      const s = group.stored[i]!;
      last = s.sequence;
      // a connection does not get its own messages back
      if (s.senderUuid !== who.account.uuid || s.senderResource !== who.resource) batch.push(s.message);
    }
    if (last === acked) return;
    if (batch.length === 0) {
      member.acked.set(who.resource, last);
      return this.pump(peer, group);
    }
    state.inFlight = last;
    peer.sendUc(UcType.MESSAGE_LIST, this.listPayload(group, batch, last), true);
  }

  ref(group: UcGroup): GroupRef {
    return { appId: this.appId, topicId: group.topicId };
  }

  private listPayload(group: UcGroup, messages: UcMessage[], maxSequence: bigint | undefined): Uint8Array {
    return encodeUcMessageList({ group: this.ref(group), messages, ...(maxSequence === undefined ? {} : { maxSequence }) });
  }

  private firstAfter(group: UcGroup, sequence: bigint): number {
    const s = group.stored;
    let lo = 0;
    let hi = s.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (s[mid]!.sequence <= sequence) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
