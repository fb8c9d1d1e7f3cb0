// The microphone for live voice: 20 ms frames of mono 48 kHz audio from an AudioWorklet, encoded to Opus by
// WebCodecs' AudioEncoder where the browser has it (Chromium, Safari 16.4+), else sent as 16-bit PCM for the
// server to encode. Each frame's level (RMS, 0–1) feeds the meter.
export const FRAME_MS = 20;
const RATE = 48_000;
const FRAME_SAMPLES = (RATE / 1000) * FRAME_MS;

export interface Capture {
  codec: 'opus' | 'pcm';
  stop(): void;
}

/** Whether this browser can encode Opus itself. */
async function opusEncoderSupported(): Promise<boolean> {
  if (typeof AudioEncoder === 'undefined') return false;
  const config = { codec: 'opus', sampleRate: RATE, numberOfChannels: 1, bitrate: 32_000 };
  return (await AudioEncoder.isConfigSupported(config).catch(() => ({ supported: false }))).supported === true;
}

export async function startCapture(send: (frame: ArrayBuffer) => void, onLevel: (rms: number) => void): Promise<Capture> {
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
  });
  const audio = new AudioContext({ sampleRate: RATE, latencyHint: 'interactive' });
  await audio.audioWorklet.addModule('/voice-worklet.js');
  const node = new AudioWorkletNode(audio, 'voice-frames', {
    processorOptions: { frameSamples: FRAME_SAMPLES },
    channelCount: 1,
    channelCountMode: 'explicit',
  });
  audio.createMediaStreamSource(stream).connect(node);
  const codec = (await opusEncoderSupported()) ? 'opus' : 'pcm';
  let encoder: AudioEncoder | undefined;
  if (codec === 'opus') {
    encoder = new AudioEncoder({
      output: (chunk) => {
        const bytes = new ArrayBuffer(chunk.byteLength);
        chunk.copyTo(bytes);
        send(bytes);
      },
      error: () => {},
    });
    encoder.configure({
      codec: 'opus',
      sampleRate: RATE,
      numberOfChannels: 1,
      bitrate: 32_000,
      opus: { frameDuration: FRAME_MS * 1000, application: 'voip' },
    } as AudioEncoderConfig);
  }
  let timestamp = 0;
  node.port.onmessage = (e: MessageEvent<Float32Array<ArrayBuffer>>) => {
    const samples = e.data;
    let sum = 0;
    for (const s of samples) sum += s * s;
    onLevel(Math.sqrt(sum / samples.length));
    if (encoder) {
      encoder.encode(
        new AudioData({ format: 'f32', sampleRate: RATE, numberOfFrames: samples.length, numberOfChannels: 1, timestamp, data: samples }),
      );
      timestamp += FRAME_MS * 1000;
      return;
    }
    const pcm = new Int16Array(samples.length);
    for (let i = 0; i < samples.length; i++) pcm[i] = Math.max(-32768, Math.min(32767, Math.round((samples[i] ?? 0) * 32767)));
    send(pcm.buffer);
  };
  return {
    codec,
    stop() {
      node.port.onmessage = null;
      node.disconnect();
      for (const track of stream.getTracks()) track.stop();
      if (encoder && encoder.state !== 'closed') encoder.close();
      void audio.close();
    },
  };
}
