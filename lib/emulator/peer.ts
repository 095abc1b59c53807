/**
 * What the emulator core needs of a client connection. The core routes through this interface
 * and never imports the connection module, so the dependency points one way: connection → core.
 */
import type { TransportKind } from '../protocol/client-codec.js';
import type { BindResult } from '../protocol/packets.js';
import type { Account, Delivery, TokenRecord } from './store.js';
import type { UcPeer } from './unlimited.js';

/** The (account, resource) a connection is bound to, and the token it bound with. */
export interface BoundSession {
  account: Account;
  resource: string;
  token: TokenRecord;
  /** The BIND asked for single sign-on: a later login of the account on any resource kicks this one. */
  sso: boolean;
  /** The BIND asked to kick the account's other resources (`kick` "1", or `sso`). */
  kickOthers: boolean;
  clientAttrs: string;
  cloudAttrs: string;
}

export interface ClientPeer extends UcPeer {
  readonly session: BoundSession | null;
  readonly transport: TransportKind;
  readonly appAccount: string | undefined;
  /** CONN answered: frames to this peer are encrypted with its body key. */
  readonly handshaken: boolean;
  /** A message for this peer's session: stored ones are read from the store by the pump. */
  offer(d: Delivery, stored: boolean): void;
  /** An online message, written at once as its own SECMSG. */
  sendOnlineMessage(packetId: string, payload: Uint8Array, timestamp: bigint): void;
  /** Sends KICK; with `close`, the connection is closed after it. */
  kick(result: Omit<BindResult, 'result'>, close: boolean): void;
  /** Fault injection: a frame head announcing an oversized body. */
  sendOversizedHead(): void;
  /** Writes what is deliverable now (after an ack, a fault change, ...). */
  schedulePump(): void;
  destroy(reason: string): void;
}
