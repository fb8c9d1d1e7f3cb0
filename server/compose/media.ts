// Media: ffmpeg probed once, the ingest pipeline (probe, loudness, Opus), its job queue (recovered after a
// restart) and speech synthesis.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { type Config, processDir } from '../config.ts';
import type { Runner } from '../media/process-runner.ts';
import { espeakEngine, httpEngine } from '../media/tts.ts';
import type { Metrics } from '../metrics.ts';
import { JobService } from '../services/job-service.ts';
import { MediaService } from '../services/media-service.ts';
import { TtsService } from '../services/tts-service.ts';
import type { Parts } from './parts.ts';
import type { Storage } from './storage.ts';

export type Media = Awaited<ReturnType<typeof buildMedia>>;

export async function buildMedia(c: {
  config: Config;
  now: () => Date;
  log: Logger;
  run: Runner;
  storage: Storage;
  metrics: Metrics;
  parts: Parts;
}) {
  const { config, now, log, run, metrics } = c;
  const { db, blobs } = c.storage;
  if (config.ttsEngine === 'http' && !config.ttsHttpUrl) throw new Error('LP_TTS_HTTP_URL is required when LP_TTS_ENGINE=http');
  // ffmpeg is probed once at start (and its answer reused): /health must stay cheap, and anyone may call it.
  const ffmpeg = await probe(run, config.ffmpegPath);
  if (!ffmpeg.ok) log.warn({ ffmpeg: config.ffmpegPath, detail: ffmpeg.detail }, 'ffmpeg does not run: uploads and TTS will fail');
  const tmpDir = processDir(config, 'tmp');
  const media = new MediaService({
    db,
    run,
    blobs,
    tmpDir,
    ffmpegPath: config.ffmpegPath,
    ffprobePath: config.ffprobePath,
    soxPath: config.soxPath,
    opusBitrateKbps: config.opusBitrateKbps,
    opusComplexity: config.opusComplexity,
    encodeParts: config.encodeParts,
    maxDurationS: config.maxDurationS,
    loudness: { integratedLufs: config.loudnessLufs, truePeakDbtp: config.truePeakDbtp },
    mp3RenditionKbps: config.mp3RenditionKbps,
  });
  const jobs = new JobService({
    db,
    media,
    now,
    concurrency: config.jobConcurrency,
    uploadsDir: processDir(config, 'uploads'),
    tmpDir,
    observeSeconds: (s) => metrics.transcodeSeconds.observe(s),
    log,
  });
  const recovered = await jobs.recover();
  if (recovered.requeued || recovered.failed) log.info(recovered, 'media jobs recovered after restart');
  c.parts.add('media jobs', () => jobs.stop());
  const tts = new TtsService({
    engine:
      config.ttsEngine === 'http' && config.ttsHttpUrl
        ? httpEngine({ url: config.ttsHttpUrl, token: config.ttsHttpToken, fetch, timeoutMs: 120_000 })
        : espeakEngine({ run, espeakPath: config.espeakPath, tmpFile: () => join(tmpDir, `${crypto.randomUUID()}.txt`) }),
    jobs,
    run,
    ffmpegPath: config.ffmpegPath,
    chimeFile: config.ttsChimeFile ?? fileURLToPath(new URL('../../audio-samples/chuong-bao-hieu.ogg', import.meta.url)),
    tmpDir,
    previewBitrateKbps: config.opusBitrateKbps,
  });
  return { media, jobs, tts, ffmpeg };
}

async function probe(run: Runner, ffmpegPath: string): Promise<{ ok: boolean; detail?: string }> {
  try {
    const r = await run({ cmd: ffmpegPath, args: ['-hide_banner', '-version'] }, { timeoutMs: 5000 });
    return r.code === 0 ? { ok: true, detail: r.stdout.split('\n')[0] } : { ok: false, detail: `exit ${r.code}` };
  } catch (err) {
    return { ok: false, detail: (err as Error).message };
  }
}
