// Text-to-speech behind one small interface. The default engine is espeak-ng's offline Vietnamese
// voice; a province can point the HTTP engine at a better voice without touching the pipeline.
import { rm, writeFile } from 'node:fs/promises';
import type { Command } from './ffmpeg.ts';
import type { Runner } from './process-runner.ts';

export interface TtsOptions {
  voice: string;
  /** Words per minute (espeak-ng -s). */
  speed: number;
  /** 0-99 (espeak-ng -p). */
  pitch: number;
}

export interface TtsEngine {
  name: string;
  /** Writes the spoken text as an audio file the ingest pipeline accepts. */
  synthesize(text: string, opts: TtsOptions, outFile: string): Promise<void>;
}

export class TtsError extends Error {
  readonly code = 'TTS_FAILED';
}

/** The text is read from a file: no argv limit, no shell, nothing in the text is an option. */
export function espeakCommand(espeak: string, opts: TtsOptions, textFile: string, outFile: string): Command {
  return { cmd: espeak, args: ['-v', opts.voice, '-s', String(opts.speed), '-p', String(opts.pitch), '-w', outFile, '-f', textFile] };
}

export function espeakEngine(deps: { run: Runner; espeakPath: string; tmpFile: () => string }): TtsEngine {
  return {
    name: 'espeak-ng',
    async synthesize(text, opts, outFile) {
      const textFile = deps.tmpFile();
      await writeFile(textFile, text, 'utf8');
      try {
        const r = await deps.run(espeakCommand(deps.espeakPath, opts, textFile, outFile), { timeoutMs: 10 * 60_000 });
        if (r.code !== 0) throw new TtsError(`espeak-ng failed: ${r.stderr.trim().split('\n').at(-1) ?? r.code}`);
      } finally {
        await rm(textFile, { force: true });
      }
    },
  };
}

/**
 * An HTTP TTS service: POST {text, voice, speed, pitch} as JSON to `url`, answered with audio bytes
 * (any format ffprobe recognises). Optional bearer token.
 */
export function httpEngine(deps: { url: string; token?: string; fetch: typeof fetch; timeoutMs: number }): TtsEngine {
  return {
    name: 'http',
    async synthesize(text, opts, outFile) {
      let res: Response;
      try {
        res = await deps.fetch(deps.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(deps.token ? { authorization: `Bearer ${deps.token}` } : {}) },
          body: JSON.stringify({ text, ...opts }),
          signal: AbortSignal.timeout(deps.timeoutMs),
        });
      } catch (err) {
        throw new TtsError(`TTS service unreachable: ${(err as Error).message}`);
      }
      if (!res.ok) throw new TtsError(`TTS service answered ${res.status}`);
      await writeFile(outFile, Buffer.from(await res.arrayBuffer()));
    },
  };
}

/** Chime before and/or after the speech, in one ffmpeg concat. */
export function withChimeCommand(ffmpeg: string, speech: string, chime: string, where: 'intro' | 'both', outFile: string): Command {
  const inputs = where === 'both' ? [chime, speech, chime] : [chime, speech];
  const labels = inputs.map((_, i) => `[${i}:a:0]aformat=sample_rates=48000:channel_layouts=mono[a${i}]`).join(';');
  const concat = `${inputs.map((_, i) => `[a${i}]`).join('')}concat=n=${inputs.length}:v=0:a=1[out]`;
  return {
    cmd: ffmpeg,
    args: [
      '-hide_banner',
      '-nostdin',
      '-v',
      'error',
      '-y',
      ...inputs.flatMap((f) => ['-i', f]),
      '-filter_complex',
      `${labels};${concat}`,
      '-map',
      '[out]',
      outFile,
    ],
  };
}
