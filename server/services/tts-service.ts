// Typed bulletins: text → TTS engine → optional chime → the same ingest pipeline as uploads; or, to listen
// before saving, the same speech as a short-lived Opus file that is never stored.
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Runner } from '../media/process-runner.ts';
import { type TtsEngine, TtsError, type TtsOptions, withChimeCommand } from '../media/tts.ts';
import { badRequest, DomainError } from './errors.ts';
import type { JobService } from './job-service.ts';

export interface TtsInput extends TtsOptions {
  title: string;
  text: string;
  chime: 'none' | 'intro' | 'both';
  userId?: string;
  unitId?: string | null;
}

export type TtsPreviewInput = Omit<TtsInput, 'title' | 'userId' | 'unitId'>;

export class TtsService {
  constructor(
    private readonly deps: {
      engine: TtsEngine;
      jobs: JobService;
      run: Runner;
      ffmpegPath: string;
      chimeFile: string;
      tmpDir: string;
      /** Bitrate of a preview (the stored item's own, so it sounds the same). */
      previewBitrateKbps: number;
    },
  ) {}

  async create(input: TtsInput) {
    const job = await this.speak(input, (file) => {
      // The spoken file goes through the same bounded job queue as uploads.
      const meta = { fileName: `${this.deps.engine.name}.wav`, title: input.title, userId: input.userId, unitId: input.unitId };
      return this.deps.jobs.submit(createReadStream(file), meta);
    });
    return this.deps.jobs.result(job.id);
  }

  /**
   * The text spoken, then an existing audio file (`after`): how an exercise or a test alert made from a
   * recording says what it is before the recording. Stored through the same job queue.
   */
  async spokenBefore(input: TtsInput & { after: string }) {
    const { deps } = this;
    const job = await this.speak({ ...input, chime: 'none' }, async (speech) => {
      const out = join(deps.tmpDir, `${randomUUID()}.before.wav`);
      try {
        const r = await deps.run(withChimeCommand(deps.ffmpegPath, input.after, speech, 'intro', out), { timeoutMs: 10 * 60_000 });
        if (r.code !== 0) throw new DomainError('internal', 'CHIME_FAILED', 'the announcement could not be joined to the audio');
        const meta = { fileName: `${deps.engine.name}.wav`, title: input.title, userId: input.userId, unitId: input.unitId };
        return await deps.jobs.submit(createReadStream(out), meta);
      } finally {
        await rm(out, { force: true });
      }
    });
    return deps.jobs.result(job.id);
  }

  /**
   * The speech as Ogg Opus, to listen to before saving (not normalised or trimmed: the stored item is).
   * The caller reads the file and then calls `done()`, which removes it.
   */
  async preview(input: TtsPreviewInput): Promise<{ file: string; done: () => Promise<void> }> {
    const { deps } = this;
    const out = join(deps.tmpDir, `${randomUUID()}.preview.ogg`);
    await this.speak(input, async (file) => {
      const r = await deps.run(
        {
          cmd: deps.ffmpegPath,
          args: ['-hide_banner', '-nostdin', '-v', 'error', '-y', '-i', file, '-ac', '1', '-ar', '48000', '-c:a', 'libopus'].concat([
            '-b:a',
            `${deps.previewBitrateKbps}k`,
            '-application',
            'voip',
            '-f',
            'ogg',
            out,
          ]),
        },
        { timeoutMs: 10 * 60_000 },
      );
      if (r.code !== 0) {
        await rm(out, { force: true });
        throw new DomainError('internal', 'PREVIEW_FAILED', 'the speech could not be encoded');
      }
    });
    return { file: out, done: () => rm(out, { force: true }) };
  }

  /** Speaks the text (with the chime where asked) into a temporary file, hands it to `use`, then removes it. */
  private async speak<T>(input: TtsPreviewInput, use: (file: string) => Promise<T>): Promise<T> {
    const { deps } = this;
    if (!input.text.trim()) throw badRequest('EMPTY_TEXT', 'there is no text to speak');
    await mkdir(deps.tmpDir, { recursive: true });
    const id = randomUUID();
    const speech = join(deps.tmpDir, `${id}.tts`);
    const withChime = join(deps.tmpDir, `${id}.chime.wav`);
    try {
      try {
        // Only the voice options leave this server: never the title, user or anything else of the input.
        await deps.engine.synthesize(input.text, { voice: input.voice, speed: input.speed, pitch: input.pitch }, speech);
      } catch (err) {
        if (err instanceof TtsError) throw new DomainError('upstream', err.code, err.message);
        throw err;
      }
      let file = speech;
      if (input.chime !== 'none') {
        const r = await deps.run(withChimeCommand(deps.ffmpegPath, speech, deps.chimeFile, input.chime, withChime), {
          timeoutMs: 10 * 60_000,
        });
        if (r.code !== 0) throw new DomainError('internal', 'CHIME_FAILED', 'the chime could not be added');
        file = withChime;
      }
      return await use(file);
    } finally {
      await rm(speech, { force: true });
      await rm(withChime, { force: true });
    }
  }
}
