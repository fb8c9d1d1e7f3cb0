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

type Binding = { OpusEncoder: new (rate: number, channels: number) => OpusCodec & { setBitrate(b: number): void } };

/**
 * The binding: the installed package, else `opus.node` beside this module (the gateway bundle ships the
 * compiled binding next to dist/agent.mjs, with no node_modules).
 */
function binding(): Binding {
  const require = createRequire(import.meta.url);
  try {
    return require('@discordjs/opus') as Binding;
  } catch (err) {
    try {
      return require(new URL('./opus.node', import.meta.url).pathname) as Binding;
    } catch {
      throw err;
    }
  }
}

/** A new codec (each stream has its own: Opus keeps state between packets); rejects when libopus is not installed. */
export async function openOpusCodec(bitrate = 32_000): Promise<OpusCodec> {
  const { OpusEncoder } = binding();
  const codec = new OpusEncoder(OPUS_SAMPLE_RATE, 1);
  codec.setBitrate(bitrate);
  return codec;
}
