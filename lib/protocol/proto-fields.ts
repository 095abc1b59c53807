/**
 * Field-level helpers shared by the protobuf codecs of this folder: proto2 presence, well-formed
 * strings, bigint ids, and decode failures as MIMCError. Long never leaves the codecs.
 */
import { MIMCError, ErrorCode } from '../errors.js';
import type { mimc } from './gen/proto.js';
import { fromLong, toLong } from './int64.js';

export interface UserRef {
  appId: bigint;
  appAccount: string;
  uuid?: bigint;
  resource?: string;
}

export interface GroupRef {
  appId: bigint;
  topicId: bigint;
}

/** Runs a protobuf decode, turning any failure into a MIMCError. */
export function parse<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (MIMCError.is(err)) throw err;
    throw new MIMCError(ErrorCode.MALFORMED_FRAME, `cannot parse ${what}`, { cause: err });
  }
}

/** String methods of ES2024 (Node >= 20), missing from the ES2022 lib this package compiles against. */
interface WellFormedString {
  isWellFormed(): boolean;
  toWellFormed(): string;
}

/**
 * `s` with every unpaired surrogate replaced by U+FFFD, as TextEncoder and Buffer encode it.
 * protobufjs would write an unpaired surrogate of a string shorter than 40 code units as three
 * bytes of invalid UTF-8 (and of a longer one as U+FFFD), which decode to three U+FFFD: the peer
 * would see another string than the one we meant, and a SECMSG header id would give it another
 * payload key than ours.
 */
function wellFormed(s: string): string {
  return (s as unknown as WellFormedString).isWellFormed() ? s : (s as unknown as WellFormedString).toWellFormed();
}

/**
 * Copies the defined properties of `fields` so protobufjs encodes exactly those (proto2 presence),
 * making strings well-formed so they go out as valid UTF-8. Every encoder passes its fields here.
 */
export function present<T extends object>(fields: T): T {
  const out = {} as Record<string, unknown>;
  for (const k in fields) {
    const v: unknown = fields[k];
    if (v !== undefined) out[k] = typeof v === 'string' ? wellFormed(v) : v;
  }
  return out as T;
}

export function has(message: object, field: string): boolean {
  return Object.prototype.hasOwnProperty.call(message, field);
}

export function optionalString(message: object, field: string): string | undefined {
  return has(message, field) ? ((message as Record<string, string>)[field] as string) : undefined;
}

export function userToProto(u: UserRef): mimc.MIMCUser {
  return present({
    appId: toLong(u.appId, true),
    appAccount: u.appAccount,
    uuid: u.uuid === undefined ? undefined : toLong(u.uuid, true),
    resource: u.resource,
  }) as mimc.MIMCUser;
}

export function userFromProto(m: mimc.IMIMCUser | null | undefined): UserRef {
  const user: UserRef = { appId: fromLong(m?.appId, true), appAccount: m?.appAccount ?? '' };
  if (m && has(m, 'uuid')) user.uuid = fromLong(m.uuid, true);
  if (m && has(m, 'resource')) user.resource = m.resource ?? '';
  return user;
}

export function groupToProto(g: GroupRef): mimc.MIMCGroup {
  return { appId: toLong(g.appId, true), topicId: toLong(g.topicId, true) } as mimc.MIMCGroup;
}

export function groupFromProto(m: mimc.IMIMCGroup | mimc.IUCGroup | null | undefined): GroupRef {
  return { appId: fromLong(m?.appId, true), topicId: fromLong(m?.topicId, true) };
}
