// Live voice capture (AudioWorklet): the microphone's samples, mono, cut into 20 ms frames (960 samples at
// 48 kHz) and posted on the port the page hands over (the sender worker's, console/src/voice-sender.ts), which
// encodes them (WebCodecs Opus) or sends them as PCM. Frames before the port arrives are not kept. A file of
// its own: the console's CSP allows scripts from this origin only.
class VoiceFrames extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.size = options.processorOptions.frameSamples;
    this.frame = new Float32Array(this.size);
    this.filled = 0;
    this.out = undefined;
    this.port.onmessage = (e) => {
      this.out = e.data;
    };
  }

  process(inputs) {
    const input = inputs[0];
    const channel = input?.[0];
    if (!channel) return true;
    for (let i = 0; i < channel.length; i++) {
      this.frame[this.filled++] = channel[i];
      if (this.filled === this.size) {
        if (this.out) {
          this.out.postMessage(this.frame, [this.frame.buffer]);
          this.frame = new Float32Array(this.size);
        }
        this.filled = 0;
      }
    }
    return true;
  }
}

registerProcessor('voice-frames', VoiceFrames);
