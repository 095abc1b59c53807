/** What the emulator answers a sent message with: shared by P2P/P2T routing and unlimited groups. */

/** What the sender's PACKET_ACK reports. */
export interface RouteResult {
  sequence: bigint;
  timestamp: bigint;
  errorMsg: string;
  code: number;
  /** The message's index in its conversation; only when the sender set `conversation` and the message is stored. */
  convIndex?: bigint;
}

/** PACKET_ACK codes for refused messages (the protocol leaves them open). */
export const AckCode = { OK: 0, BAD_REQUEST: 400, FORBIDDEN: 403, NOT_FOUND: 404, TOO_MANY: 429 } as const;

/** An accepted message's result; `convIndex` only when one was assigned (built without a spread: this runs per message). */
export function accepted(sequence: bigint, timestamp: bigint, convIndex: bigint | undefined): RouteResult {
  const result: RouteResult = { sequence, timestamp, errorMsg: '', code: AckCode.OK };
  if (convIndex !== undefined) result.convIndex = convIndex;
  return result;
}
