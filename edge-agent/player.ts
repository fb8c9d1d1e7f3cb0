// The player adapter: ffmpeg to an ALSA device, or a null sink that decodes in real time.
// Either way the audio passes through astats, so every playback yields measured levels.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

/** Where a zone's audio goes: nowhere (measured only), an ALSA device, or a file or FIFO as raw 16-bit PCM at 48 kHz (monitoring). */
export type Sink = { kind: 'null' } | { kind: 'alsa'; device: string } | { kind: 'file'; path: string };

/** A gateway's outputs by zone name ([P-2] zone codes), each to its own sink. */
export type Zones = Record<string, Sink>;

export interface Levels {
  rmsDbfs: number;
  peakDbfs: number;
}

export interface PlayResult {
  completed: boolean;
  playedMs: number;
  /** The loudest zone's levels: what proves the item was audible somewhere. */
  level?: Levels;
  /** Levels measured after each zone's own volume, as its horns received them. */
  zoneLevels?: Record<string, Levels>;
  error?: string;
}

export interface Playback {
  done: Promise<PlayResult>;
  /** Ends playback; with `fadeMs`, the level is ramped down first so a cut is not a click mid-word. */
  stop(opts?: { fadeMs?: number }): void;
  /** Changes a playing zone's level (all zones when `zone` is undefined); false when it does not play that zone. */
  setVolume(zone: string | undefined, level: number): boolean;
}

export interface Player {
  zones: string[];
  play(source: Source | string, opts?: PlayOptions): Playback;
  /** [P-5.11] Reads `seconds` of an upstream stream into nothing: its RMS in dBFS, or undefined when none came. */
  probe?(url: string, seconds: number): Promise<number | undefined>;
}

const SAMPLE_RATE = 48_000;
/** ffmpeg reads one interactive command per 100 ms; a fade-out is ramped in steps of that. */
const COMMAND_STEP_MS = 100;

/**
 * What to play: a file, a generated test tone (self-test, [P-3.5]), or a live stream's decoded audio
 * (signed 16-bit mono PCM at 48 kHz, paced by its writer: [P-5.6]).
 */
export type Source = { file: string } | { toneHz: number; seconds: number } | { pcm: NodeJS.ReadableStream } | { url: string };

/**
 * An upstream stream ([P-5.11] relay): no reconnects (the relay switches sources itself), 5 s without data is an
 * error, and at most a tenth of a second of it is read before playing (ffmpeg's default of 5 s would delay every switch).
 */
const URL_INPUT = ['-rw_timeout', '5000000', '-reconnect', '0', '-probesize', '16384', '-analyzeduration', '100000'];

/** Read what comes as soon as it comes: no probing, no input buffering (live audio's delay is the jitter buffer's). */
const LIVE_INPUT = ['-fflags', 'nobuffer', '-flags', 'low_delay', '-probesize', '32', '-analyzeduration', '0'];

export interface PlayOptions {
  /** Level 0–100 per zone to play on ([P-3.5] volume; 100 leaves the audio as it is). Absent: every zone at 100. */
  zones?: Record<string, number>;
  /** Fade in over this many ms, and out over the same before `durationMs` ends (when known). */
  fadeMs?: number;
  durationMs?: number;
  /** Called after each measured second with the audio played so far, the loudest zone's level, and that second's RMS (first zone). */
  onProgress?: (playedMs: number, level: Levels | undefined, secondRmsDbfs: number) => void;
}

/**
 * Pure argv. One decode feeds every zone (asplit); each zone has its own named volume filter (so its
 * level can be changed while playing) and then splits again: one copy to its sink, one through
 * one-second astats frames (overall RMS, peak and sample count only) whose metadata goes to its own
 * pipe (fd 3 + zone index), unbuffered (`direct=1`: with avio's buffer the lines arrived only every
 * ~20 s, so the journal's per-second checkpoints were late). Metering on a side branch keeps the sink
 * free of the meter's one-second buffering. Pipes are named `pipe:N`
 * (quoted, escaped) because Node's stdio pipes are sockets, which /dev/stdout cannot open.
 */
export function playbackCommand(
  ffmpeg: string,
  source: Source | string,
  zones: Zones,
  opts: PlayOptions = {},
): { cmd: string; args: string[]; zones: string[] } {
  const src: Source = typeof source === 'string' ? { file: source } : source;
  const levels = opts.zones ?? Object.fromEntries(Object.keys(zones).map((z) => [z, 100]));
  const names = Object.keys(levels).filter((z) => z in zones);
  if (names.length === 0) throw new Error('no zone to play on');
  // A live stream comes on the pipe after the meters' (fd 3 + zones).
  const input =
    'file' in src
      ? ['-re', '-i', src.file]
      : 'url' in src
        ? [...URL_INPUT, '-re', '-i', src.url]
        : 'pcm' in src
          ? [...LIVE_INPUT, '-f', 's16le', '-ar', String(SAMPLE_RATE), '-ac', '1', '-i', `pipe:${3 + names.length}`]
          : ['-re', '-f', 'lavfi', '-i', `sine=frequency=${src.toneHz}:sample_rate=${SAMPLE_RATE}:duration=${src.seconds}`];
  const split = names.length > 1 ? `,asplit=${names.length}` : '';
  const graph = [`[0:a]aresample=${SAMPLE_RATE}${fades(opts)},volume@all=1.000${split}${names.map((_, i) => `[a${i}]`).join('')}`];
  const outputs: string[] = [];
  names.forEach((zone, i) => {
    graph.push(
      `[a${i}]volume@z${i}=${gain(levels[zone] ?? 100)},asplit=2[o${i}][m${i}]`,
      `[m${i}]asetnsamples=n=${SAMPLE_RATE}:p=0,astats=metadata=1:reset=1:measure_perchannel=none:measure_overall=Number_of_samples+RMS_level+Peak_level,ametadata=mode=print:direct=1:file='pipe\\:${3 + i}',anullsink`,
    );
    const sink = zones[zone] as Sink;
    outputs.push('-map', `[o${i}]`, ...sinkArgs(sink));
  });
  return {
    cmd: ffmpeg,
    // No -nostdin: stdin is the pipe that carries volume commands ("c" lines) to the running graph.
    args: ['-hide_banner', '-nostats', '-v', 'error', ...input, '-filter_complex', graph.join(';'), ...outputs],
    zones: names,
  };
}

function sinkArgs(sink: Sink): string[] {
  if (sink.kind === 'alsa') return ['-f', 'alsa', sink.device];
  // Each packet written as it comes (a FIFO's reader hears it at once), over what the file held.
  if (sink.kind === 'file') return ['-f', 's16le', '-ar', String(SAMPLE_RATE), '-flush_packets', '1', '-y', sink.path];
  return ['-f', 'null', '-'];
}

const gain = (level: number) => (Math.max(0, Math.min(100, level)) / 100).toFixed(3);

/** afade filters: in at the start, out just before the known end (a stop ramps down through the volume filters). */
function fades({ fadeMs, durationMs }: PlayOptions): string {
  if (!fadeMs || fadeMs <= 0) return '';
  const d = (fadeMs / 1000).toFixed(3);
  const fadeIn = `,afade=t=in:st=0:d=${d}`;
  if (!durationMs || durationMs < 4 * fadeMs) return fadeIn;
  return `${fadeIn},afade=t=out:st=${((durationMs - fadeMs) / 1000).toFixed(3)}:d=${d}`;
}

/** Accumulates astats metadata lines into played samples and a level summary. */
export class LevelMeter {
  private samples = 0;
  private power = 0;
  private powerSamples = 0;
  private peak = Number.NEGATIVE_INFINITY;
  private frameSamples = 0;
  private frameRms = Number.NEGATIVE_INFINITY;
  /** The RMS of the last measured frame (one second), dBFS. */
  lastRmsDbfs = -200;

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
      this.lastRmsDbfs = Number.isFinite(value) ? Math.max(value, -200) : -200;
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

const SETPRIV = '/usr/bin/setpriv';
const hasSetpriv = existsSync(SETPRIV);

/**
 * The player never outlives the agent, kill -9 and power-supervisor restarts included: util-linux's
 * setpriv asks the kernel to SIGKILL it when its parent dies, then execs ffmpeg in its place (same pid,
 * so stopping the child stops ffmpeg). Without setpriv (not Linux) the program runs as it is.
 */
export function diesWithParent(cmd: string, args: string[]): [string, string[]] {
  return hasSetpriv ? [SETPRIV, ['--pdeathsig', 'KILL', '--', cmd, ...args]] : [cmd, args];
}

export function createFfmpegPlayer(opts: { ffmpegPath: string; zones: Zones }): Player {
  return {
    zones: Object.keys(opts.zones),
    probe(url, seconds) {
      const args = ['-hide_banner', '-nostats', '-v', 'error', ...URL_INPUT, '-t', String(seconds), '-i', url];
      const graph =
        'aresample=48000,astats=metadata=1:reset=0:measure_perchannel=none:measure_overall=RMS_level,ametadata=mode=print:file=-';
      const [program, argv] = diesWithParent(opts.ffmpegPath, [...args, '-af', graph, '-f', 'null', '-']);
      return new Promise((resolve) => {
        const child = spawn(program, argv, { stdio: ['ignore', 'pipe', 'ignore'] });
        let last: number | undefined;
        createInterface({ input: child.stdout }).on('line', (l) => {
          const m = /RMS_level=(\S+)/.exec(l);
          if (m) last = Number.isFinite(Number(m[1])) ? Number(m[1]) : -200;
        });
        const timer = setTimeout(() => child.kill('SIGKILL'), (seconds + 10) * 1000);
        child.on('error', () => resolve(undefined));
        child.on('close', (code) => {
          clearTimeout(timer);
          resolve(code === 0 ? last : undefined);
        });
      });
    },
    play(source, playOpts = {}) {
      let built: ReturnType<typeof playbackCommand>;
      try {
        built = playbackCommand(opts.ffmpegPath, source, opts.zones, playOpts);
      } catch (err) {
        const result = { completed: false, playedMs: 0, error: (err as Error).message };
        return { done: Promise.resolve(result), stop() {}, setVolume: () => false };
      }
      const { cmd, args, zones } = built;
      const [program, argv] = diesWithParent(cmd, args);
      const pcm = typeof source === 'object' && 'pcm' in source ? source.pcm : undefined;
      const pipes = zones.map(() => 'pipe' as const);
      const child = spawn(program, argv, { stdio: ['pipe', 'ignore', 'pipe', ...pipes, ...(pcm ? ['pipe' as const] : [])] });
      if (pcm) {
        const input = child.stdio[3 + zones.length] as NodeJS.WritableStream & { on(e: 'error', f: () => void): void };
        input.on('error', () => {}); // ffmpeg gone (stopped): what is still written goes nowhere
        pcm.pipe(input);
      }
      const commands = new VolumeCommands((line) => child.stdin?.write(line));
      const meters = zones.map(() => new LevelMeter());
      const loudest = () => loudestOf(zones.map((z, i) => [z, meters[i]?.levels] as const));
      let stderr = '';
      let stopped = false;
      let exited = false;
      child.stdin?.on('error', () => {}); // EPIPE when ffmpeg has already exited: nothing to tell it any more
      meters.forEach((meter, i) => {
        const out = child.stdio[3 + i] as NodeJS.ReadableStream;
        createInterface({ input: out }).on('line', (l) => {
          // The first zone's meter counts the samples played; the others run in lockstep.
          if (meter.line(l) && i === 0) playOpts.onProgress?.(meter.playedMs, loudest().level, meter.lastRmsDbfs);
        });
      });
      child.stderr?.on('data', (d: Buffer) => {
        for (const line of d.toString().split('\n')) {
          // ffmpeg echoes interactive commands on stderr whatever the log level; they are not errors.
          if (line.startsWith('Command reply')) commands.replied();
          if (!line.trim() || /^(Enter command|Command reply|Parsed_|\[)/.test(line.trim())) continue;
          if (stderr.length < 4096) stderr += `${line}\n`;
        }
      });
      const done = new Promise<PlayResult>((resolvePromise) => {
        child.on('error', (err) => resolvePromise({ completed: false, playedMs: 0, error: err.message }));
        child.on('close', (code) => {
          exited = true;
          commands.close();
          const { level, zoneLevels } = loudest();
          const result: PlayResult = { completed: code === 0 && !stopped, playedMs: meters[0]?.playedMs ?? 0, level, zoneLevels };
          if (code !== 0 && !stopped) result.error = stderr.trim().split('\n').at(-1) || `ffmpeg exited ${code}`;
          resolvePromise(result);
        });
      });
      return {
        done,
        stop({ fadeMs = 0 } = {}) {
          if (exited) return;
          const kill = () => {
            if (!exited) child.kill('SIGTERM');
          };
          if (stopped || fadeMs < COMMAND_STEP_MS) {
            stopped = true;
            return kill();
          }
          stopped = true;
          // The shared volume filter ramps every zone at once; each step replaces the one before if unsent.
          const steps = Math.round(fadeMs / COMMAND_STEP_MS);
          for (let k = 1; k <= steps; k++)
            setTimeout(() => commands.set('volume@all', gain((100 * (steps - k)) / steps)), (k - 1) * COMMAND_STEP_MS);
          // One more step for ffmpeg to read the last command before it is told to end.
          setTimeout(kill, steps * COMMAND_STEP_MS);
        },
        setVolume(zone, level) {
          const targets = zone === undefined ? zones : zones.filter((z) => z === zone);
          if (stopped || targets.length === 0) return false;
          for (const z of targets) commands.set(`volume@z${zones.indexOf(z)}`, gain(level));
          return true;
        },
      };
    },
  };
}

/**
 * Level changes for a running ffmpeg, as interactive commands on its stdin (`c<target> -1 volume <gain>`).
 * ffmpeg reads one per 100 ms and silently drops those read before its filter graph is configured (the
 * first ~150 ms), so each is sent again until ffmpeg prints its "Command reply"; only the newest wanted
 * gain per filter is kept, so a fade's steps coalesce when ffmpeg is slow to read them.
 */
class VolumeCommands {
  private readonly wanted = new Map<string, string>();
  private inFlight?: { target: string; gain: string };
  private resend?: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly write: (line: string) => void) {}

  set(target: string, gain: string): void {
    this.wanted.set(target, gain);
    this.pump();
  }

  /** ffmpeg answered the command in flight. */
  replied(): void {
    const sent = this.inFlight;
    if (!sent) return;
    if (this.wanted.get(sent.target) === sent.gain) this.wanted.delete(sent.target);
    this.inFlight = undefined;
    clearTimeout(this.resend);
    this.pump();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.resend);
  }

  private pump(): void {
    if (this.inFlight || this.closed) return;
    const next = this.wanted.entries().next();
    if (next.done) return;
    const [target, gain] = next.value;
    this.inFlight = { target, gain };
    this.write(`c${target} -1 volume ${gain}\n`);
    this.resend = setTimeout(() => {
      this.inFlight = undefined;
      this.pump();
    }, 2 * COMMAND_STEP_MS);
  }
}

/** Each zone's levels, and the loudest of them as the item's level summary. */
function loudestOf(measured: readonly (readonly [string, Levels | undefined])[]): Pick<PlayResult, 'level' | 'zoneLevels'> {
  const zoneLevels: Record<string, Levels> = {};
  let level: Levels | undefined;
  for (const [zone, l] of measured) {
    if (!l) continue;
    zoneLevels[zone] = l;
    if (!level || l.rmsDbfs > level.rmsDbfs) level = l;
  }
  return level ? { level, zoneLevels } : {};
}

/** ALSA is used when the machine has a sound card; otherwise the null sink measures instead. */
export function detectSink(device: string | undefined): Sink {
  if (device) return { kind: 'alsa', device };
  const cards = existsSync('/proc/asound/cards') ? readFileSync('/proc/asound/cards', 'utf8') : '';
  return /^\s*\d+\s+\[/m.test(cards) ? { kind: 'alsa', device: 'default' } : { kind: 'null' };
}

/**
 * The gateway's zones: from the config (`{"z1": "hw:0,0", "z2": "null", "z3": "file:/run/lp/z3.pcm"}`, "null" =
 * the measuring null sink, "file:" raw PCM to a file or FIFO), else one zone "z1" (the server's default zone
 * code) on the detected sink.
 */
export function resolveZones(configured: Record<string, string> | undefined, alsaDevice: string | undefined): Zones {
  if (!configured) return { z1: detectSink(alsaDevice) };
  return Object.fromEntries(
    Object.entries(configured).map(([zone, device]): [string, Sink] => [
      zone,
      device === 'null'
        ? { kind: 'null' }
        : device.startsWith('file:')
          ? { kind: 'file', path: device.slice(5) }
          : { kind: 'alsa', device },
    ]),
  );
}
