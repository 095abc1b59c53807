/** Pure, synchronous MIMC protocol core: framing, ciphers, keys and typed packets. No I/O. */
export * from './constants.js';
export { adler32 } from './adler32.js';
export { Rc4, rc4 } from './rc4.js';
export { deriveBodyKey, derivePayloadKey, bindSignature, bindSignatureInput, type BindSignatureInput } from './keys.js';
export { encodeFrame, EMPTY_FRAME, FrameDecoder, type FrameDecoderOptions } from './frame.js';
export { toLong, fromLong, parseUint64 } from './int64.js';
export { parseJsonExact } from './json.js';
export * from './packets.js';
export { MIMCError, ErrorCode } from '../errors.js';
