// Typed bulletins: text → TTS engine → optional chime → the same ingest pipeline as uploads.
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Job } from '../db/generated/client.ts';
import { AppError, badRequest } from '../http/errors.ts';
import type { Runner } from '../media/process-runner.ts';
import { type TtsEngine, TtsError, type TtsOptions, withChimeCommand } from '../media/tts.ts';
import type { JobService } from './job-service.ts';

export interface TtsInput extends TtsOptions {
  title: string;
  text: string;
  chime: 'none' | 'intro' | 'both';
  userId?: string;
  unitId?: string | null;
}

export class TtsService {
  constructor(
    private readonly deps: { engine: TtsEngine; jobs: JobService; run: Runner; ffmpegPath: string; chimeFile: string; tmpDir: string },
  ) {}

  async create(input: TtsInput) {
    const { deps } = this;
    if (!input.text.trim()) throw badRequest('EMPTY_TEXT', 'there is no text to speak');
    await mkdir(deps.tmpDir, { recursive: true });
    const id = randomUUID();
    const speech = join(deps.tmpDir, `${id}.tts`);
    const withChime = join(deps.tmpDir, `${id}.chime.wav`);
    let job: Job;
    try {
      try {
        // Only the voice options leave this server: never the title, user or anything else of the input.
        await deps.engine.synthesize(input.text, { voice: input.voice, speed: input.speed, pitch: input.pitch }, speech);
      } catch (err) {
        if (err instanceof TtsError) throw new AppError(502, err.code, err.message);
        throw err;
      }
      let file = speech;
      if (input.chime !== 'none') {
        const r = await deps.run(withChimeCommand(deps.ffmpegPath, speech, deps.chimeFile, input.chime, withChime), {
          timeoutMs: 10 * 60_000,
        });
        if (r.code !== 0) throw new AppError(500, 'CHIME_FAILED', 'the chime could not be added');
        file = withChime;
      }
      // The spoken file goes through the same bounded job queue as uploads.
      const meta = { fileName: `${deps.engine.name}.wav`, title: input.title, userId: input.userId, unitId: input.unitId };
      job = await deps.jobs.submit(createReadStream(file), meta);
    } finally {
      await rm(speech, { force: true });
      await rm(withChime, { force: true });
    }
    return deps.jobs.result(job.id);
  }
}
