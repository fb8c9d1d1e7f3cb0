// [P-8] The reference Opus codec for live frames: @discordjs/opus (libopus), loaded when first needed so a
// gateway that never carries live audio never maps it. Mono, 48 kHz, 16-bit PCM in and out.
import { createRequire } from 'node:module';

export interface OpusCodec {
  /** One frame of PCM (frameMs × 48 samples, 16-bit little-endian) to one Opus packet. */
  encode(pcm: Buffer): Buffer;
  /** One Opus packet to its PCM. */
  decode(packet: Buffer): Buffer;
}

export const OPUS_SAMPLE_RATE = 48_000;

/** Bytes of 16-bit mono PCM in `ms` at 48 kHz. */
export const pcmBytes = (ms: number): number => (OPUS_SAMPLE_RATE / 1000) * ms * 2;

/** A new codec (each stream has its own: Opus keeps state between packets); rejects when libopus is not installed. */
export async function openOpusCodec(bitrate = 32_000): Promise<OpusCodec> {
  const require = createRequire(import.meta.url);
  const { OpusEncoder } = require('@discordjs/opus') as {
    OpusEncoder: new (rate: number, channels: number) => OpusCodec & { setBitrate(b: number): void };
  };
  const codec = new OpusEncoder(OPUS_SAMPLE_RATE, 1);
  codec.setBitrate(bitrate);
  return codec;
}
