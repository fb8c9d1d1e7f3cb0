// Ingest: an uploaded file becomes a horn-ready Opus item stored by sha256, or a clear error and nothing left behind.
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Db } from '../db/client.ts';
import type { Media } from '../db/generated/client.ts';
import { searchTextOf } from '../library/fold.ts';
import type { BlobStore } from '../media/blob-store.ts';
import { interpretProbe, type ProbeResult, probeCommand } from '../media/ffmpeg.ts';
import {
  type Analysis,
  analysisCommand,
  concatCommand,
  encodeCommand,
  encodeCuts,
  type Levels,
  type LoudnessTarget,
  levelsCommand,
  parseAnalysis,
  parseLevels,
  planEncode,
  type Rendition,
} from '../media/loudness.ts';
import type { Runner } from '../media/process-runner.ts';
import { badRequest, DomainError } from './errors.ts';

export interface MediaServiceDeps {
  db: Db;
  run: Runner;
  blobs: BlobStore;
  tmpDir: string;
  ffmpegPath: string;
  ffprobePath: string;
  /** Decodes AMR first: ffmpeg's AMR decoder refuses the comfort-noise (SID) frames phones write in silences. */
  soxPath: string;
  opusBitrateKbps: number;
  opusComplexity: number;
  /** Most parts an item is cut into and encoded at once (1: one piece). */
  encodeParts?: number;
  maxDurationS: number;
  loudness: LoudnessTarget;
  /** Also encode an MP3 rendition at this bitrate (legacy gateways). */
  mp3RenditionKbps?: number;
}

export interface IngestMeta {
  fileName: string;
  title: string;
  userId?: string;
  /** The unit that owns the new item (the uploader's); none = the province's. */
  unitId?: string | null;
}

/** Share of the work each ffmpeg pass takes, for progress reporting. */
const STAGES = { analyse: [0, 0.45], encode: [0.45, 0.9], measure: [0.9, 1] } as const;

export class MediaService {
  constructor(private readonly deps: MediaServiceDeps) {}

  /** Writes an incoming stream to `dir`; refuses (and removes) a file the transport cut at its limit. */
  async receive(stream: Readable, dir: string, truncated?: () => boolean): Promise<string> {
    await mkdir(dir, { recursive: true });
    const file = join(dir, `${randomUUID()}.upload`);
    try {
      await pipeline(stream, createWriteStream(file));
      if (truncated?.()) throw new DomainError('too-large', 'TOO_LARGE', 'the file exceeds the upload size limit');
      return file;
    } catch (err) {
      await rm(file, { force: true });
      throw err;
    }
  }

  /**
   * Probe, one analysis pass, one encode pass, re-measure, store by sha256. The source file is the
   * caller's; nothing else is left behind, whatever happens.
   */
  async process(source: string, meta: IngestMeta, onProgress: (p: number) => void = () => {}): Promise<{ media: Media; created: boolean }> {
    const { deps } = this;
    await mkdir(deps.tmpDir, { recursive: true });
    const encoded = join(deps.tmpDir, `${randomUUID()}.ogg`);
    const mp3 = `${encoded}.mp3`;
    const wav = `${encoded}.wav`;
    const scratch = [encoded, mp3, wav];
    try {
      const sourceSize = (await stat(source)).size;
      const probe = await this.probe(source);
      const tooLong = (ms: number) => {
        if (ms > deps.maxDurationS * 1000)
          throw badRequest('TOO_LONG', `audio lasts ${Math.round(ms / 1000)} s, the maximum is ${deps.maxDurationS} s`);
      };
      if (probe.durationMs !== null) tooLong(probe.durationMs);
      // A phone's AMR clip goes through sox to PCM first (ffmpeg stops at its first silence: "Not yet implemented").
      let input = source;
      if (/^amr_/.test(probe.codec)) {
        const decoded = await this.decodeAmr(source, wav, /_wb$/.test(probe.codec) ? 16000 : 8000);
        if (!decoded.ok) throw badRequest('CORRUPT_AUDIO', `the AMR audio could not be decoded: ${decoded.detail}`);
        input = wav;
      }
      const track = (stage: keyof typeof STAGES, totalMs: number) => (chunk: string) => {
        const m = [...chunk.matchAll(/out_time_us=(\d+)/g)].at(-1);
        if (!m || totalMs <= 0) return;
        const [a, b] = STAGES[stage];
        onProgress(a + (b - a) * Math.min(1, Number(m[1]) / 1000 / totalMs));
      };
      // One analysis pass, then one encode pass ([DESIGN §1]: speech at -16 LUFS, -1 dBTP, silence trimmed).
      const before = await this.analyse(input, track('analyse', probe.durationMs ?? 0));
      // A container that declared no length is as long as it decodes (and cannot be found truncated).
      if (probe.durationMs === null) tooLong(before.decodedMs);
      const verdict = planEncode(before, probe.durationMs ?? before.decodedMs, deps.loudness);
      if (!verdict.ok) throw badRequest(verdict.code, verdict.message);
      const { plan } = verdict;
      const renditions: Rendition[] = [
        { file: encoded, format: 'opus', bitrateKbps: deps.opusBitrateKbps, complexity: deps.opusComplexity },
      ];
      if (deps.mp3RenditionKbps) renditions.push({ file: mp3, format: 'mp3', bitrateKbps: deps.mp3RenditionKbps });
      // Long speech is cut at silences and its parts encoded at once (one libopus encoder per core), then joined.
      const cuts = deps.mp3RenditionKbps ? [] : encodeCuts(plan, before.silences, deps.encodeParts ?? 1);
      const bounds = [plan.startMs, ...cuts, plan.endMs];
      const parts = bounds.slice(1).map((endMs, i) => ({
        plan: { ...plan, startMs: bounds[i], endMs },
        renditions: cuts.length ? [{ ...renditions[0], file: `${encoded}.${i}.ogg` }] : renditions,
      }));
      scratch.push(...(cuts.length ? parts.map((p) => p.renditions[0].file) : []), `${encoded}.parts`);
      const results = await Promise.all(
        parts.map((p, i) =>
          deps.run(encodeCommand(deps.ffmpegPath, input, p.plan, deps.loudness, p.renditions), {
            timeoutMs: 30 * 60_000,
            ...(i === 0 ? { onStdout: track('encode', p.plan.endMs - p.plan.startMs) } : {}),
          }),
        ),
      );
      const failed = results.find((r) => r.code !== 0);
      if (failed) throw badRequest('CORRUPT_AUDIO', `the audio could not be encoded: ${lastLine(failed.stderr)}`);
      if (cuts.length)
        await this.join(
          parts.map((p) => p.renditions[0].file),
          `${encoded}.parts`,
          encoded,
        );
      const out = await this.probe(encoded);
      // Our own Ogg always declares its length; the plan's is the fallback.
      const outMs = out.durationMs ?? plan.endMs - plan.startMs;
      // Re-measured from the stored file itself, both passes at once.
      const [after, levels] = await Promise.all([this.analyse(encoded, track('measure', outMs)), this.levels(encoded, outMs)]);
      const { sha256, sizeBytes } = await deps.blobs.adopt(encoded);
      const legacy = deps.mp3RenditionKbps ? await deps.blobs.adopt(mp3, 'mp3') : undefined;
      onProgress(1);
      const existing = await deps.db.media.findUnique({ where: { sha256 } });
      if (existing) return { media: existing, created: false };
      const media = await deps.db.media.create({
        data: {
          title: meta.title,
          searchText: searchTextOf({ title: meta.title }),
          sha256,
          sizeBytes,
          durationMs: outMs,
          codec: out.codec,
          sampleRate: out.sampleRate,
          channels: out.channels,
          sourceName: meta.fileName.slice(0, 255),
          sourceFormat: probe.formatName,
          sourceSizeBytes: sourceSize,
          sourceDurationMs: before.decodedMs,
          trimStartMs: plan.startMs,
          trimEndMs: before.decodedMs - plan.endMs,
          loudnessBeforeLufs: finite(before.integratedLufs),
          truePeakBeforeDbtp: finite(before.truePeakDbtp),
          loudnessRangeLu: finite(before.loudnessRangeLu),
          loudnessAfterLufs: finite(after.integratedLufs),
          truePeakAfterDbtp: finite(after.truePeakDbtp),
          gainDb: plan.gainDb,
          limited: plan.limit,
          levels: levels ? JSON.stringify(levels) : null,
          mp3Sha256: legacy?.sha256,
          mp3SizeBytes: legacy?.sizeBytes,
          createdById: meta.userId,
          unitId: meta.unitId ?? null,
        },
      });
      return { media, created: true };
    } finally {
      await Promise.all(scratch.map((f) => rm(f, { force: true })));
    }
  }

  /**
   * The level strip of a stored item, measured once: items stored before strips existed get theirs on
   * first request. Null when the audio is not in the store.
   */
  async levelsOf(mediaId: string): Promise<Levels | null> {
    const { db, blobs } = this.deps;
    const item = await db.media.findUniqueOrThrow({ where: { id: mediaId }, select: { levels: true, sha256: true, durationMs: true } });
    if (item.levels) return JSON.parse(item.levels) as Levels;
    if (!(await blobs.has(item.sha256))) return null;
    const levels = await this.levels(join(blobs.dir, blobs.fileName(item.sha256)), item.durationMs);
    if (levels) await db.media.update({ where: { id: mediaId }, data: { levels: JSON.stringify(levels) } });
    return levels;
  }

  /** Joins encoded parts into `out` (stream copy); the list file is written beside them. */
  private async join(files: string[], listFile: string, out: string): Promise<void> {
    await writeFile(listFile, `ffconcat version 1.0\n${files.map((f) => `file '${f.replaceAll("'", "'\\''")}'\n`).join('')}`);
    const r = await this.deps.run(concatCommand(this.deps.ffmpegPath, listFile, out), { timeoutMs: 10 * 60_000 });
    if (r.code !== 0) throw new DomainError('internal', 'ENCODE_FAILED', `the encoded parts could not be joined: ${lastLine(r.stderr)}`);
  }

  /** RMS and peak per slice of an encoded file; null if the pass fails (a strip is never worth refusing an item). */
  private async levels(file: string, durationMs: number): Promise<Levels | null> {
    const { command, sliceMs } = levelsCommand(this.deps.ffmpegPath, file, durationMs);
    const r = await this.deps.run(command, { timeoutMs: 10 * 60_000 });
    if (r.code !== 0) return null;
    const levels = parseLevels(r.stdout, sliceMs);
    return levels.rmsDbfs.length ? levels : null;
  }

  private async analyse(file: string, onStdout?: (chunk: string) => void): Promise<Analysis> {
    const r = await this.deps.run(analysisCommand(this.deps.ffmpegPath, file), { timeoutMs: 30 * 60_000, onStdout });
    if (r.code !== 0) throw badRequest('CORRUPT_AUDIO', `the audio could not be decoded: ${lastLine(r.stderr)}`);
    return parseAnalysis(r.stderr, r.stdout);
  }

  private async decodeAmr(source: string, wav: string, rate: number): Promise<{ ok: boolean; detail: string }> {
    // -t amr-nb/amr-wb: the container is AMR whatever the file is called.
    const type = rate === 16000 ? 'amr-wb' : 'amr-nb';
    const r = await this.deps.run(
      { cmd: this.deps.soxPath, args: ['-t', type, source, '-t', 'wav', '-b', '16', wav] },
      { timeoutMs: 10 * 60_000 },
    );
    return { ok: r.code === 0, detail: lastLine(r.stderr) };
  }

  private async probe(file: string): Promise<ProbeResult> {
    const result = await this.deps.run(probeCommand(this.deps.ffprobePath, file), { timeoutMs: 60_000 });
    let json: unknown;
    try {
      json = JSON.parse(result.stdout || '{}');
    } catch {
      throw new DomainError('internal', 'PROBE_FAILED', 'ffprobe returned unreadable output');
    }
    if (result.code !== 0) throw badRequest('NOT_AUDIO', 'the file is not a recognizable audio or video file');
    const verdict = interpretProbe(json as Parameters<typeof interpretProbe>[0]);
    if (!verdict.ok) throw badRequest(verdict.code, verdict.message);
    return verdict.probe;
  }
}

const finite = (n: number) => (Number.isFinite(n) ? n : null);

const lastLine = (s: string) => s.trim().split('\n').at(-1)?.slice(0, 200) ?? '';
