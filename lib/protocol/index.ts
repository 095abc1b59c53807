/** Pure, synchronous MIMC protocol core: framing, ciphers, keys and typed packets. No I/O. */
export * from './constants.js';
export { adler32 } from './adler32.js';
export { Rc4, RC4_KEYSTREAM_CAP, rc4 } from './rc4.js';
export { deriveBodyKey, derivePayloadKey, bindSignature, bindSignatureInput, type BindSignatureInput } from './keys.js';
export { encodeFrame, EMPTY_FRAME, FrameDecoder, type FrameDecoderOptions } from './frame.js';
export { toLong, fromLong, parseUint64, parseJsonUint64 } from './int64.js';
export { parseJsonExact, stringifyExact, JSON_MAX_DEPTH, type JsonParseOptions, type JsonStringifyOptions } from './json.js';
export * from './packets.js';
export { MIMCError, ErrorCode } from '../errors.js';
export {
  encodeWsFrame,
  encodeWsSecMsgFrame,
  decodeWsFrame,
  WS_VERSION,
  WS_HEADER_TYPE,
  WS_HEAD_LENGTH,
  WS_CONN_UDID,
  WS_CONN_SDK,
  WS_PING_INTERVAL_MS,
  WS_ENDPOINT,
  type WsFrame,
  type WsFrameDecodeOptions,
} from './ws-frame.js';
export * from './uc.js';
