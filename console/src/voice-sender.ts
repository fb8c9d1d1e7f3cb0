// The live voice's sender, a dedicated worker: it holds the WebSocket to the server and the Opus encoder, and
// takes the microphone's frames straight from the AudioWorklet through a port of their own. The page's thread
// never carries a frame, so a page that is busy (a long render, a slow phone, a tab in the background) does not
// hold the audio back: a gap of 5 s ends the stream at every gateway ([P-8.3]), and shorter ones are concealed.
import type { FromSender, ToSender } from './voice-capture.ts';

const RATE = 48_000;
const FRAME_MS = 20;

// This file runs as a worker; the console's types are the page's (DOM), so its scope is named by what it uses.
const scope = self as unknown as {
  postMessage(message: FromSender): void;
  onmessage: ((e: MessageEvent<ToSender>) => void) | null;
};
const tell = (message: FromSender) => scope.postMessage(message);

let socket: WebSocket | undefined;
/** Frames go out once the server said the broadcast started (it refuses them before). */
let started = false;
let encoder: AudioEncoder | undefined;
let frames: MessagePort | undefined;
let timestamp = 0;

/** Whether this browser can encode Opus here (WebCodecs in a worker: Chromium, Safari 16.4+). */
async function opusEncoderSupported(): Promise<boolean> {
  if (typeof AudioEncoder === 'undefined') return false;
  const config = { codec: 'opus', sampleRate: RATE, numberOfChannels: 1, bitrate: 32_000 };
  return (await AudioEncoder.isConfigSupported(config).catch(() => ({ supported: false }))).supported === true;
}

function send(frame: ArrayBuffer): void {
  if (started && socket?.readyState === WebSocket.OPEN) socket.send(frame);
}

/** One 20 ms frame of samples: its level to the page's meter, then encoded (or as 16-bit PCM) to the server. */
function frame(samples: Float32Array<ArrayBuffer>): void {
  // One still queued when the microphone went off: the encoder that would take it is gone.
  if (!frames) return;
  let sum = 0;
  for (const s of samples) sum += s * s;
  tell({ type: 'level', rms: Math.sqrt(sum / samples.length) });
  if (encoder) {
    if (encoder.state !== 'configured') return;
    encoder.encode(
      new AudioData({ format: 'f32', sampleRate: RATE, numberOfFrames: samples.length, numberOfChannels: 1, timestamp, data: samples }),
    );
    timestamp += FRAME_MS * 1000;
    return;
  }
  const pcm = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) pcm[i] = Math.max(-32768, Math.min(32767, Math.round((samples[i] ?? 0) * 32767)));
  send(pcm.buffer);
}

async function capture(port: MessagePort): Promise<void> {
  if (await opusEncoderSupported()) {
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
  frames = port;
  port.onmessage = (e: MessageEvent<Float32Array<ArrayBuffer>>) => frame(e.data);
  tell({ type: 'codec', codec: encoder ? 'opus' : 'pcm' });
}

/** The microphone is off: no more frames, and the encoder is let go. */
function release(): void {
  frames?.close();
  frames = undefined;
  if (encoder && encoder.state !== 'closed') encoder.close();
  encoder = undefined;
}

scope.onmessage = (e) => {
  const msg = e.data;
  if (msg.type === 'connect') {
    socket = new WebSocket(msg.url);
    socket.binaryType = 'arraybuffer';
    socket.onopen = () => tell({ type: 'open' });
    socket.onclose = () => tell({ type: 'close' });
    socket.onmessage = (m) => {
      const data = m.data as string;
      const type = (JSON.parse(data) as { type?: string }).type;
      if (type === 'started') started = true;
      else if (type === 'ended') started = false;
      tell({ type: 'message', data });
    };
  } else if (msg.type === 'frames') void capture(msg.port);
  else if (msg.type === 'send') {
    if (socket?.readyState === WebSocket.OPEN) socket.send(msg.text);
  } else if (msg.type === 'release') release();
  else if (msg.type === 'close') {
    release();
    socket?.close();
  }
};
