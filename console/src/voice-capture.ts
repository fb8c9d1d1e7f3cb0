// The microphone for live voice: 20 ms frames of mono 48 kHz audio from an AudioWorklet, handed to a dedicated
// worker (voice-sender.ts) that holds the WebSocket and encodes them to Opus with WebCodecs' AudioEncoder where
// the browser has it (Chromium, Safari 16.4+), else sends them as 16-bit PCM for the server to encode. The frames
// go from the worklet to the worker without passing through the page's thread; the page gets the socket's
// messages and each frame's level (RMS, 0–1) for the meter.
export const FRAME_MS = 20;
const RATE = 48_000;
const FRAME_SAMPLES = (RATE / 1000) * FRAME_MS;

/** What the page tells the sender. */
export type ToSender =
  | { type: 'connect'; url: string }
  | { type: 'frames'; port: MessagePort }
  | { type: 'send'; text: string }
  | { type: 'release' }
  | { type: 'close' };
/** What the sender tells the page. */
export type FromSender =
  | { type: 'open' }
  | { type: 'message'; data: string }
  | { type: 'close' }
  | { type: 'codec'; codec: 'opus' | 'pcm' }
  | { type: 'level'; rms: number };

export interface Capture {
  codec: 'opus' | 'pcm';
  stop(): void;
}

export interface VoiceLink {
  /** A text message to the server, when the socket is open. */
  send(text: string): void;
  /** Turns the microphone on; its frames go to the server once it says the broadcast started. */
  capture(): Promise<Capture>;
  close(): void;
}

/** Opens the live voice socket in its own worker; the handlers run on the page. */
export function openVoiceLink(
  url: string,
  on: { open(): void; message(data: string): void; close(): void; level(rms: number): void },
): VoiceLink {
  const worker = new Worker(new URL('./voice-sender.ts', import.meta.url), { type: 'module' });
  const post = (msg: ToSender, transfer: Transferable[] = []) => worker.postMessage(msg, transfer);
  let codec: ((c: 'opus' | 'pcm') => void) | undefined;
  worker.onmessage = (e: MessageEvent<FromSender>) => {
    const msg = e.data;
    if (msg.type === 'open') on.open();
    else if (msg.type === 'message') on.message(msg.data);
    else if (msg.type === 'level') on.level(msg.rms);
    else if (msg.type === 'codec') codec?.(msg.codec);
    else if (msg.type === 'close') {
      worker.terminate();
      on.close();
    }
  };
  post({ type: 'connect', url });
  return {
    send: (text) => post({ type: 'send', text }),
    close: () => post({ type: 'close' }),
    async capture() {
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
      // The worklet posts its frames on one end of a channel, the sender listens on the other.
      const channel = new MessageChannel();
      node.port.postMessage(channel.port1, [channel.port1]);
      const chosen = new Promise<'opus' | 'pcm'>((resolve) => {
        codec = resolve;
      });
      post({ type: 'frames', port: channel.port2 }, [channel.port2]);
      audio.createMediaStreamSource(stream).connect(node);
      return {
        codec: await chosen,
        stop() {
          post({ type: 'release' });
          node.disconnect();
          for (const track of stream.getTracks()) track.stop();
          void audio.close();
        },
      };
    },
  };
}
