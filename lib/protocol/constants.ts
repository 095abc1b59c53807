/** Wire constants of the MIMC "V6" framing. */
export const MAGIC = 0xc2fe;
export const VERSION = 5;
export const HEAD_LENGTH = 8;
export const BODY_HEADER_LENGTH = 8;
export const CHECKSUM_LENGTH = 4;
export const PAYLOAD_TYPE_PROTOBUF = 2;
/** Default cap on a frame body; the official SDK has none, we refuse larger frames before buffering. */
export const DEFAULT_MAX_FRAME_BODY = 1024 * 1024;

export const CHID = 9;
export const SERVER = 'xiaomi.com';
export const CONN_VERSION = 106;
export const CONN_SDK = 33;
export const CONN_OS = 'macOs';
export const BIND_METHOD = 'XIAOMI-PASS';
export const BIND_KICK = '0';
/** BIND `kick` asking the server to kick the account's other resources. */
export const BIND_KICK_OTHERS = '1';
/** Largest client or cloud attribute string in UTF-8 bytes: both travel in every BIND and its signature. */
export const MAX_BIND_ATTRS_BYTES = 1024;

export const Cmd = {
  CONN: 'CONN',
  BIND: 'BIND',
  PING: 'PING',
  UBND: 'UBND',
  KICK: 'KICK',
  SECMSG: 'SECMSG',
} as const;
export type Cmd = (typeof Cmd)[keyof typeof Cmd];

export const DirFlag = {
  CS_ONEWAY: 1,
  CS_REQ: 2,
  CS_RESP: 3,
  SC_ONEWAY: 4,
  SC_REQ: 5,
  SC_RESP: 6,
} as const;

export const Cipher = { NONE: 0, RC4: 1 } as const;

/** MIMCPacket.type values. */
export const PacketType = {
  P2P_MESSAGE: 1,
  P2T_MESSAGE: 2,
  SEQUENCE_ACK: 3,
  PACKET_ACK: 4,
  PULL: 5,
  COMPOUND: 6,
  RTS_SIGNAL: 7,
  UC_PACKET: 8,
  ONLINE_MESSAGE: 11,
  ONLINE_MESSAGE_ACK: 12,
} as const;

export const PushStatus = { NORMAL: 1, EXCEED_COUNT_LIMIT: 2 } as const;

/** BIND/KICK error types that mean "fetch a new token, then bind again". */
export const ErrorType = {
  TOKEN_EXPIRED: 'token-expired',
  AUTO: 'auto',
  INVALID_TOKEN_REASON: 'invalid-token',
  MULTI_LOGIN: 'multi-login',
} as const;

/** True when a BIND/KICK result asks the client to refresh its token. */
export function needsTokenRefresh(errorType: string, errorReason: string): boolean {
  return errorType === ErrorType.TOKEN_EXPIRED || (errorType === ErrorType.AUTO && errorReason === ErrorType.INVALID_TOKEN_REASON);
}
