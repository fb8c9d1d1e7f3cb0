// [P-8.2] Live-frame vectors, from the fixed keys of artifacts.ts.
import { encodeLiveFrame } from '../src/index.ts';
import { NOW, OTHER, SERVER } from './keys.ts';

export interface LiveVector {
  name: string;
  description: string;
  frameHex: string;
  publicKeyHex: string;
  expected: string;
  decoded?: { streamId: string; seq: number; timestampMs: number; last: boolean; payloadHex: string };
}

export function liveVectors(): LiveVector[] {
  const frame = {
    streamId: '0123456789abcdef0123456789abcdef',
    seq: 42,
    timestampMs: NOW.getTime() + 840,
    last: false,
    payload: Buffer.from('fc7fa0', 'hex'),
  };
  const good = encodeLiveFrame(frame, SERVER.privateKey);
  const tampered = Buffer.from(good);
  tampered[LIVE_SEQ_OFFSET + 3] ^= 1;
  const decoded = {
    streamId: frame.streamId,
    seq: frame.seq,
    timestampMs: frame.timestampMs,
    last: false,
    payloadHex: frame.payload.toString('hex'),
  };
  return [
    {
      name: 'live-valid',
      description: 'Frame 42 of a stream, a 3-byte Opus packet.',
      frameHex: good.toString('hex'),
      publicKeyHex: SERVER.publicKeyHex,
      expected: 'ok',
      decoded,
    },
    {
      name: 'live-tampered-seq',
      description: 'The frame above with seq changed after signing.',
      frameHex: tampered.toString('hex'),
      publicKeyHex: SERVER.publicKeyHex,
      expected: 'BAD_SIGNATURE',
    },
    {
      name: 'live-wrong-key',
      description: 'Signed by a key other than the one that signed live.start.',
      frameHex: encodeLiveFrame(frame, OTHER.privateKey).toString('hex'),
      publicKeyHex: SERVER.publicKeyHex,
      expected: 'BAD_SIGNATURE',
    },
    {
      name: 'live-truncated',
      description: 'The valid frame without its last byte.',
      frameHex: good.subarray(0, good.length - 1).toString('hex'),
      publicKeyHex: SERVER.publicKeyHex,
      expected: 'MALFORMED',
    },
  ];
}

const LIVE_SEQ_OFFSET = 22;
