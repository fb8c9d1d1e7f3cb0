// The player adapter: ffmpeg to an ALSA device, or a null sink that decodes in real time.
// Either way the audio passes through astats, so every playback yields measured levels.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

export type Sink = { kind: 'null' } | { kind: 'alsa'; device: string };

export interface Levels {
  rmsDbfs: number;
  peakDbfs: number;
}

export interface PlayResult {
  completed: boolean;
  playedMs: number;
  level?: Levels;
  error?: string;
}

export interface Playback {
  done: Promise<PlayResult>;
  stop(): void;
}

export interface Player {
  sink: Sink;
  play(source: Source | string, opts?: PlayOptions): Playback;
}

const SAMPLE_RATE = 48_000;

/** What to play: a file, or a generated test tone (self-test, [P-3.5]). */
export type Source = { file: string } | { toneHz: number; seconds: number };

export interface PlayOptions {
  /** Output level 0–100 ([P-3.5] volume); 100 leaves the audio as it is. */
  volume?: number;
  /** Fade in over this many ms, and out over the same before `durationMs` ends (when known). */
  fadeMs?: number;
  durationMs?: number;
  /** Called after each measured second with the audio played so far. */
  onProgress?: (playedMs: number, level: Levels | undefined) => void;
}

/**
 * Pure argv: one-second frames through astats, metadata printed to stdout. The output is named
 * pipe:1 (quoted, escaped) because Node's stdio pipes are sockets, which /dev/stdout cannot open.
 * The volume filter comes before astats, so the measured level is what the horns receive.
 */
export function playbackCommand(
  ffmpeg: string,
  source: Source | string,
  sink: Sink,
  opts: PlayOptions = {},
): { cmd: string; args: string[] } {
  const src: Source = typeof source === 'string' ? { file: source } : source;
  const input =
    'file' in src
      ? ['-re', '-i', src.file]
      : ['-re', '-f', 'lavfi', '-i', `sine=frequency=${src.toneHz}:sample_rate=${SAMPLE_RATE}:duration=${src.seconds}`];
  const gain = opts.volume !== undefined && opts.volume < 100 ? `volume=${(opts.volume / 100).toFixed(2)},` : '';
  const filter = `aresample=${SAMPLE_RATE},${fades(opts)}${gain}asetnsamples=n=${SAMPLE_RATE}:p=0,astats=metadata=1:reset=1,ametadata=mode=print:file='pipe\\:1'`;
  const output = sink.kind === 'alsa' ? ['-f', 'alsa', sink.device] : ['-f', 'null', '-'];
  return {
    cmd: ffmpeg,
    args: ['-hide_banner', '-nostdin', '-nostats', '-v', 'error', ...input, '-af', filter, ...output],
  };
}

/** afade filters: in at the start, out just before the known end (a cut by preemption is abrupt). */
function fades({ fadeMs, durationMs }: PlayOptions): string {
  if (!fadeMs || fadeMs <= 0) return '';
  const d = (fadeMs / 1000).toFixed(3);
  const fadeIn = `afade=t=in:st=0:d=${d},`;
  if (!durationMs || durationMs < 4 * fadeMs) return fadeIn;
  return `${fadeIn}afade=t=out:st=${((durationMs - fadeMs) / 1000).toFixed(3)}:d=${d},`;
}

/** Accumulates astats metadata lines into played samples and a level summary. */
export class LevelMeter {
  private samples = 0;
  private power = 0;
  private powerSamples = 0;
  private peak = Number.NEGATIVE_INFINITY;
  private frameSamples = 0;
  private frameRms = Number.NEGATIVE_INFINITY;

  /** Takes one metadata line; true when it closed a measured frame. */
  line(text: string): boolean {
    const eq = text.indexOf('=');
    if (!text.startsWith('lavfi.astats.Overall.') || eq < 0) return false;
    const key = text.slice('lavfi.astats.Overall.'.length, eq);
    const value = Number(text.slice(eq + 1));
    if (key === 'Number_of_samples') {
      this.frameSamples = value;
      this.samples += value;
      this.addPower();
    } else if (key === 'RMS_level') {
      this.frameRms = value;
      this.addPower();
    } else if (key === 'Peak_level' && Number.isFinite(value)) {
      this.peak = Math.max(this.peak, value);
    }
    return key === 'Number_of_samples';
  }

  // astats prints RMS_level before Number_of_samples within a frame; combine once both are known.
  private addPower() {
    if (this.frameSamples > 0 && this.frameRms !== Number.NEGATIVE_INFINITY) {
      this.power += 10 ** (this.frameRms / 10) * this.frameSamples;
      this.powerSamples += this.frameSamples;
      this.frameSamples = 0;
      this.frameRms = Number.NEGATIVE_INFINITY;
    }
  }

  get playedMs(): number {
    return Math.round((this.samples / SAMPLE_RATE) * 1000);
  }

  get levels(): Levels | undefined {
    if (this.samples === 0) return undefined;
    const rms = this.powerSamples > 0 && this.power > 0 ? 10 * Math.log10(this.power / this.powerSamples) : -200;
    return { rmsDbfs: round2(Math.max(rms, -200)), peakDbfs: round2(Number.isFinite(this.peak) ? Math.max(this.peak, -200) : -200) };
  }
}

const round2 = (n: number) => Math.round(n * 100) / 100;

export function createFfmpegPlayer(opts: { ffmpegPath: string; sink: Sink }): Player {
  return {
    sink: opts.sink,
    play(source, playOpts) {
      const { cmd, args } = playbackCommand(opts.ffmpegPath, source, opts.sink, playOpts);
      const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      const meter = new LevelMeter();
      let stderr = '';
      let stopped = false;
      createInterface({ input: child.stdout }).on('line', (l) => {
        if (meter.line(l)) playOpts?.onProgress?.(meter.playedMs, meter.levels);
      });
      child.stderr.on('data', (d: Buffer) => {
        if (stderr.length < 4096) stderr += d.toString();
      });
      const done = new Promise<PlayResult>((resolvePromise) => {
        child.on('error', (err) => resolvePromise({ completed: false, playedMs: 0, error: err.message }));
        child.on('close', (code) => {
          const result: PlayResult = { completed: code === 0 && !stopped, playedMs: meter.playedMs, level: meter.levels };
          if (code !== 0 && !stopped) result.error = stderr.trim().split('\n').at(-1) ?? `ffmpeg exited ${code}`;
          resolvePromise(result);
        });
      });
      return {
        done,
        stop() {
          stopped = true;
          child.kill('SIGTERM');
        },
      };
    },
  };
}

/** ALSA is used when the machine has a sound card; otherwise the null sink measures instead. */
export function detectSink(device: string | undefined): Sink {
  if (device) return { kind: 'alsa', device };
  const cards = existsSync('/proc/asound/cards') ? readFileSync('/proc/asound/cards', 'utf8') : '';
  return /^\s*\d+\s+\[/m.test(cards) ? { kind: 'alsa', device: 'default' } : { kind: 'null' };
}
