/**
 * Strictness: every protocol violation closes exactly the offending connection, is counted in
 * stats.rejectedFrames and logged with its MIMCError code; bystanders keep working, and no
 * secret ever reaches the log.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { startEmulator, type Emulator } from '../../lib/emulator/index.js';
import {
  Cmd,
  ErrorCode,
  PacketType,
  clientHeader,
  encodeBody,
  derivePayloadKey,
  encodeFrame,
  encodeSequenceAck,
  rc4,
  encodeV6Frame,
} from '../../lib/protocol/index.js';
import { RawClient, loginRaw } from '../helpers/raw-client.js';

const logLines: string[] = [];
const logSink = new Writable({
  write(chunk: Buffer, _enc, done) {
    logLines.push(...chunk.toString('utf8').split('\n').filter((l) => l.length > 0));
    done();
  },
});

let emu: Emulator;
let bystander: RawClient;
const clients: RawClient[] = [];

beforeAll(async () => {
  emu = await startEmulator({ maxFrameBody: 4096, logger: pino({ level: 'debug' }, logSink) });
  bystander = await loginRaw(emu, 'bystander', 'rb');
});
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});
afterAll(async () => {
  bystander.close();
  await emu.close();
});

async function login(account: string, resource: string): Promise<RawClient> {
  const c = await loginRaw(emu, account, resource);
  clients.push(c);
  return c;
}

async function handshaken(): Promise<RawClient> {
  const c = await RawClient.connect(emu.frontend.port);
  clients.push(c);
  await c.conn({ resource: 'r_x' });
  return c;
}

/** Sends `bytes` and expects: this connection closed, one more rejection logged with `code`, bystander fine. */
async function expectRejected(c: RawClient, bytes: Uint8Array, code: string): Promise<void> {
  const rejected = emu.stats.rejectedFrames;
  const logged = logLines.length;
  c.send(bytes);
  await c.waitClosed();
  expect(emu.stats.rejectedFrames).toBe(rejected + 1);
  const violation = logLines.slice(logged).map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'protocol violation, closing connection');
  expect(violation?.code).toBe(code);
  await bystander.ping();
}

function head(magic: number, version: number, bodyLength: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt16BE(magic, 0);
  b.writeUInt16BE(version, 2);
  b.writeUInt32BE(bodyLength, 4);
  return b;
}

/** A body whose 8-byte body header says what we want, encrypted with the client's key. */
function craftedBody(c: RawClient, payloadType: number, headerBytes: Uint8Array, payload: Uint8Array, claimedPayloadLength = payload.length): Uint8Array {
  const body = Buffer.alloc(8 + headerBytes.length + payload.length);
  body.writeUInt16BE(payloadType, 0);
  body.writeUInt16BE(headerBytes.length, 2);
  body.writeUInt32BE(claimedPayloadLength, 4);
  body.set(headerBytes, 8);
  body.set(payload, 8 + headerBytes.length);
  return encodeFrame(c.bodyKey ? c.bodyKey.apply(body) : body);
}

/** The serialized ClientHeader of a PING, taken from a real encoded body. */
function pingHeaderBytes(c: RawClient): Uint8Array {
  const plain = encodeBody(clientHeader(Cmd.PING, c.uuid, c.resource, 'x1'), new Uint8Array(0), null);
  return plain.subarray(8);
}

describe('framing violations close the connection', () => {
  it('bad magic', async () => {
    const c = await handshaken();
    await expectRejected(c, Buffer.concat([head(0xbeef, 5, 0), Buffer.alloc(4)]), ErrorCode.BAD_MAGIC);
  });

  it('bad version', async () => {
    const c = await handshaken();
    await expectRejected(c, Buffer.concat([head(0xc2fe, 6, 0), Buffer.alloc(4)]), ErrorCode.BAD_VERSION);
  });

  it('bad checksum', async () => {
    const c = await handshaken();
    const frame = Buffer.from(encodeV6Frame(clientHeader(Cmd.PING, c.uuid, c.resource, 'p1'), new Uint8Array(0), c.bodyKey));
    frame[frame.length - 1]! ^= 0x01;
    await expectRejected(c, frame, ErrorCode.BAD_CHECKSUM);
  });

  it('announced body over maxFrameBody, before any body byte arrives', async () => {
    const c = await handshaken();
    await expectRejected(c, head(0xc2fe, 5, 4097), ErrorCode.FRAME_TOO_LARGE);
  });

  it('a 16 MiB announcement on a fresh connection', async () => {
    const c = await RawClient.connect(emu.frontend.port);
    clients.push(c);
    await expectRejected(c, head(0xc2fe, 5, 16 * 1024 * 1024 + 1), ErrorCode.FRAME_TOO_LARGE);
  });

  it('inconsistent body lengths', async () => {
    const c = await handshaken();
    await expectRejected(c, craftedBody(c, 2, pingHeaderBytes(c), new Uint8Array(3), 7), ErrorCode.MALFORMED_FRAME);
  });

  it('payload type other than 2', async () => {
    const c = await handshaken();
    await expectRejected(c, craftedBody(c, 3, pingHeaderBytes(c), new Uint8Array(0)), ErrorCode.MALFORMED_FRAME);
  });

  it('a body shorter than its 8-byte header', async () => {
    const c = await handshaken();
    await expectRejected(c, encodeFrame(new Uint8Array([0, 2, 0])), ErrorCode.MALFORMED_FRAME);
  });

  it('unparsable ClientHeader', async () => {
    const c = await handshaken();
    await expectRejected(c, craftedBody(c, 2, new Uint8Array([0x0a, 0xff, 0xff, 0xff]), new Uint8Array(0)), ErrorCode.MALFORMED_FRAME);
  });
});

describe('state-machine violations close the connection', () => {
  it('a first frame that is not CONN', async () => {
    const c = await RawClient.connect(emu.frontend.port);
    clients.push(c);
    await expectRejected(c, encodeV6Frame(clientHeader(Cmd.PING, 0n, 'r', 'p'), new Uint8Array(0), null), ErrorCode.MALFORMED_FRAME);
  });

  it('an empty frame before CONN', async () => {
    const c = await RawClient.connect(emu.frontend.port);
    clients.push(c);
    await expectRejected(c, encodeFrame(new Uint8Array(0)), ErrorCode.MALFORMED_FRAME);
  });

  it('an unparsable CONN payload', async () => {
    const c = await RawClient.connect(emu.frontend.port);
    clients.push(c);
    await expectRejected(c, encodeV6Frame(clientHeader(Cmd.CONN, 0n, 'r', 'c'), new Uint8Array([0x0a, 0x05, 0x01]), null), ErrorCode.MALFORMED_FRAME);
  });

  it('a second CONN', async () => {
    const c = await handshaken();
    await expectRejected(c, encodeV6Frame(clientHeader(Cmd.CONN, 0n, 'r_x', 'c2'), new Uint8Array(0), c.bodyKey), ErrorCode.MALFORMED_FRAME);
  });

  it('an unknown command', async () => {
    const c = await handshaken();
    const header = { ...clientHeader(Cmd.PING, 0n, 'r_x', 'u1'), cmd: 'HELO' };
    await expectRejected(c, encodeV6Frame(header, new Uint8Array(0), c.bodyKey), ErrorCode.MALFORMED_FRAME);
  });

  it('an unparsable BIND payload', async () => {
    const c = await handshaken();
    await expectRejected(c, encodeV6Frame(clientHeader(Cmd.BIND, 0n, 'r_x', 'b1'), new Uint8Array([0x0a, 0x7f]), c.bodyKey), ErrorCode.MALFORMED_FRAME);
  });

  it('a header uuid other than the bound one', async () => {
    const c = await login('mallory', 'rm');
    await expectRejected(c, encodeV6Frame(clientHeader(Cmd.PING, c.uuid + 1n, 'rm', 'p9'), new Uint8Array(0), c.bodyKey), ErrorCode.MALFORMED_FRAME);
  });

  it('a header resource other than the bound one', async () => {
    const c = await login('mallory', 'rm2');
    await expectRejected(c, encodeV6Frame(clientHeader(Cmd.PING, c.uuid, 'other', 'p9'), new Uint8Array(0), c.bodyKey), ErrorCode.MALFORMED_FRAME);
  });

  it('a SECMSG payload that does not decrypt to a MIMCPacket', async () => {
    const c = await login('mallory', 'rm3');
    // Correctly encrypted, but the plaintext is a truncated protobuf field.
    const payload = rc4(derivePayloadKey(c.token!.securityKey, 's1'), new Uint8Array([0x0a, 0x40, 0x01]));
    await expectRejected(c, encodeV6Frame(clientHeader(Cmd.SECMSG, c.uuid, 'rm3', 's1'), payload, c.bodyKey), ErrorCode.MALFORMED_FRAME);
  });

  it('a P2P message whose inner payload does not parse', async () => {
    const c = await login('mallory', 'rm4');
    const frame = c.packetFrame({ packetId: 'bad_p2p', package: 'p', type: PacketType.P2P_MESSAGE, payload: new Uint8Array([0x0a, 0x40, 0x01]) });
    await expectRejected(c, frame, ErrorCode.MALFORMED_FRAME);
  });

  it('a P2P message without packetId', async () => {
    const c = await login('mallory', 'rm7');
    await expectRejected(c, c.packetFrame({ packetId: '', package: 'p', type: PacketType.P2P_MESSAGE, payload: new Uint8Array(0) }, 'hid'), ErrorCode.MALFORMED_FRAME);
  });

  it('a SEQUENCE_ACK naming another resource', async () => {
    const c = await login('mallory', 'rm5');
    const rejected = emu.stats.rejectedFrames;
    c.sendPacket({
      packetId: 'sa1',
      package: 'p',
      type: PacketType.SEQUENCE_ACK,
      payload: encodeSequenceAck({ uuid: c.uuid, resource: 'someone-else', sequence: 0n, appId: emu.app.appId }),
    });
    await c.waitClosed();
    expect(emu.stats.rejectedFrames).toBe(rejected + 1);
    await bystander.ping();
  });

  it('a frame split into single bytes is still accepted', async () => {
    const c = await login('patient', 'rp');
    const frame = encodeV6Frame(clientHeader(Cmd.PING, c.uuid, 'rp', 'slow'), new Uint8Array(0), c.bodyKey);
    for (const byte of frame) c.send(Uint8Array.of(byte));
    await c.nextPong();
  });
});

describe('logging', () => {
  it('never logs tokens, security keys, the app secret or payloads', async () => {
    const c = await login('secretive', 'rs');
    const peer = await login('listener', 'rl');
    const payload = 'TOP-SECRET-PAYLOAD-TEXT';
    await c.nextAck(c.sendP2P('listener', payload));
    await peer.nextCompound();
    const all = logLines.join('\n');
    expect(all).not.toContain(c.token!.token);
    expect(all).not.toContain(c.token!.securityKey);
    expect(all).not.toContain(emu.app.appSecret);
    expect(all).not.toContain(payload);
    expect(all).not.toContain(Buffer.from(payload).toString('base64'));
  });
});
