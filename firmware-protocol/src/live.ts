// [P-8] Live audio frames: binary, one Opus packet each, every frame signed by the server key
// that signed the live.start command. Binary because JSON+base64 would add a third to every frame.
import { createHash, type KeyObject, sign, verify } from 'node:crypto';
import { LIMITS } from './limits.ts';

export const LIVE_MAGIC = Buffer.from('LPA1', 'ascii');
export const LIVE_FRAME_VERSION = 1;
export const LIVE_HEADER_BYTES = 36;
export const LIVE_SIGNATURE_BYTES = 64;
export const MAX_LIVE_FRAME_BYTES = LIVE_HEADER_BYTES + LIMITS.maxFramePayloadBytes + LIVE_SIGNATURE_BYTES;

export interface LiveFrame {
  /** 32 hex digits (16 bytes), as in live.start. */
  streamId: string;
  /** Starts at 0 for a stream, +1 per frame. */
  seq: number;
  /** Capture instant of the first sample, ms since the Unix epoch (UTC). */
  timestampMs: number;
  /** Set on the final frame of a stream. */
  last: boolean;
  /** One Opus packet. */
  payload: Buffer;
}

export type LiveVerdict =
  | { ok: true; frame: LiveFrame }
  | { ok: false; code: 'TOO_LARGE' | 'MALFORMED' | 'UNSUPPORTED_VERSION' | 'BAD_SIGNATURE' };

/** [P-8.2] Byte layout, big-endian. */
export function encodeLiveFrame(frame: LiveFrame, privateKey: KeyObject): Buffer {
  if (!/^[0-9a-f]{32}$/.test(frame.streamId)) throw new Error('streamId must be 32 hex digits');
  if (frame.payload.length > LIMITS.maxFramePayloadBytes) throw new Error(`payload over ${LIMITS.maxFramePayloadBytes} bytes`);
  const header = Buffer.alloc(LIVE_HEADER_BYTES);
  LIVE_MAGIC.copy(header, 0);
  header.writeUInt8(LIVE_FRAME_VERSION, 4);
  header.writeUInt8(frame.last ? 1 : 0, 5);
  Buffer.from(frame.streamId, 'hex').copy(header, 6);
  header.writeUInt32BE(frame.seq, 22);
  header.writeBigUInt64BE(BigInt(frame.timestampMs), 26);
  header.writeUInt16BE(frame.payload.length, 34);
  const signed = Buffer.concat([header, frame.payload]);
  return Buffer.concat([signed, sign(null, signed, privateKey)]);
}

export function decodeLiveFrame(buf: Buffer, publicKey: KeyObject): LiveVerdict {
  if (buf.length > MAX_LIVE_FRAME_BYTES) return { ok: false, code: 'TOO_LARGE' };
  if (buf.length < LIVE_HEADER_BYTES + LIVE_SIGNATURE_BYTES || !buf.subarray(0, 4).equals(LIVE_MAGIC))
    return { ok: false, code: 'MALFORMED' };
  if (buf.readUInt8(4) !== LIVE_FRAME_VERSION) return { ok: false, code: 'UNSUPPORTED_VERSION' };
  const length = buf.readUInt16BE(34);
  if (length > LIMITS.maxFramePayloadBytes || buf.length !== LIVE_HEADER_BYTES + length + LIVE_SIGNATURE_BYTES) {
    return { ok: false, code: 'MALFORMED' };
  }
  const signed = buf.subarray(0, LIVE_HEADER_BYTES + length);
  if (!verify(null, signed, publicKey, buf.subarray(LIVE_HEADER_BYTES + length))) return { ok: false, code: 'BAD_SIGNATURE' };
  return {
    ok: true,
    frame: {
      streamId: buf.subarray(6, 22).toString('hex'),
      seq: buf.readUInt32BE(22),
      timestampMs: Number(buf.readBigUInt64BE(26)),
      last: (buf.readUInt8(5) & 1) === 1,
      payload: Buffer.from(buf.subarray(LIVE_HEADER_BYTES, LIVE_HEADER_BYTES + length)),
    },
  };
}

/** [P-5.6] The `sha256` a live airing's reports carry: SHA-256 of the 16 stream id bytes (there is no file). */
export function liveSha256(streamId: string): string {
  return createHash('sha256').update(Buffer.from(streamId, 'hex')).digest('hex');
}

/** [P-8.2] The stream id of a frame, read without verifying it (to route it to its stream's key). */
export function peekLiveStream(buf: Buffer): string | undefined {
  return buf.length >= LIVE_HEADER_BYTES && buf.subarray(0, 4).equals(LIVE_MAGIC) ? buf.subarray(6, 22).toString('hex') : undefined;
}
