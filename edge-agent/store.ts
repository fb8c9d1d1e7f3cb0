// Durable agent state on the gateway's disk: written to a temp file, fsync'd, then renamed,
// so a power cut leaves either the old state or the new one, never half of each.
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { Manifest, ManifestEntry } from '#protocol';

export const AgentState = z.object({
  /** What enrollment gave this gateway ([P-5.1]); absent until it has enrolled. */
  enrollment: z
    .object({
      device: z.string(),
      station: z.string(),
      mqtt: z.object({ url: z.string(), clientId: z.string(), username: z.string(), password: z.string() }),
      groups: z.array(z.string()),
    })
    .optional(),
  /** [P-4.7] The server keys trusted: from enrollment, then from each applied manifest's serverKeys. */
  serverKeys: z.array(z.object({ kid: z.string(), publicKeyHex: z.string(), validUntil: z.string().optional() })).default([]),
  /** The single server key of agents before key rotation (read once, moved into serverKeys). */
  serverKeyHex: z.string().optional(),
  serverKid: z.string().optional(),
  /** Highest envelope sequence accepted from the server, over manifests and commands ([P-4.3]). */
  lastSeq: z.number().default(-1),
  /** Ids of server messages accepted recently (bounded), so a replayed command is refused. */
  seenIds: z.array(z.string()).default([]),
  /** Output level per zone, 0-100; "*" is every zone ([P-3.5] volume). */
  volume: z.record(z.string(), z.number()).default({}),
  manifest: Manifest.optional(),
  manifestId: z.string().optional(),
  /** Occurrences already started here, so a restart never airs one twice. */
  played: z.array(z.string()).default([]),
});
export type AgentState = z.infer<typeof AgentState>;

/**
 * What is on air now, journalled before the player starts and at each second of measured audio, so
 * that after a power cut the agent can say what it was playing, since when, and how much at least
 * aired ([P-3.2] reason INTERRUPTED).
 */
export const NowPlaying = z.object({
  entry: ManifestEntry,
  startedAt: z.number(),
  /** Audio measured by the player so far, and when that was last written. */
  playedMs: z.number().default(0),
  checkpointAt: z.number(),
  level: z.object({ rmsDbfs: z.number(), peakDbfs: z.number() }).optional(),
  zones: z.array(z.string()).optional(),
});
export type NowPlaying = z.infer<typeof NowPlaying>;

export function writeFileAtomic(file: string, data: string | Buffer): void {
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

export class StateStore {
  private readonly file: string;
  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.file = join(dir, 'state.json');
  }

  load(): AgentState {
    if (!existsSync(this.file)) return AgentState.parse({});
    const parsed = AgentState.safeParse(JSON.parse(readFileSync(this.file, 'utf8')));
    // A state file we cannot read must not stop the gateway: start clean and resync from the server.
    return parsed.success ? parsed.data : AgentState.parse({});
  }

  save(state: AgentState): void {
    writeFileAtomic(this.file, JSON.stringify(state));
  }

  private get nowPlayingFile(): string {
    return join(this.dir, 'now-playing.json');
  }

  /** A small file of its own: rewritten every second while playing, unlike the (larger) state. */
  saveNowPlaying(now: NowPlaying): void {
    writeFileAtomic(this.nowPlayingFile, JSON.stringify(now));
  }

  loadNowPlaying(): NowPlaying | undefined {
    if (!existsSync(this.nowPlayingFile)) return undefined;
    try {
      const parsed = NowPlaying.safeParse(JSON.parse(readFileSync(this.nowPlayingFile, 'utf8')));
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }

  clearNowPlaying(): void {
    rmSync(this.nowPlayingFile, { force: true });
  }

  deviceKey(): KeyObject {
    const file = join(this.dir, 'device-ed25519.pem');
    if (!existsSync(file)) {
      const { privateKey } = generateKeyPairSync('ed25519');
      writeFileAtomic(file, privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
    }
    return createPrivateKey(readFileSync(file));
  }
}

/**
 * [P-3.2] Reports waiting for the broker's PUBACK, one file each (written atomically before the
 * publish, deleted after the acknowledgement), so a power cut or a long outage loses none. A report is
 * sent again as the same signed envelope: the server deduplicates by its id.
 */
export class Outbox {
  private readonly dir: string;
  constructor(stateDir: string) {
    this.dir = join(stateDir, 'outbox');
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  /** Keeps `payload` under `id`; the name orders entries by when they were written. */
  put(id: string, payload: string, at: number): void {
    writeFileAtomic(join(this.dir, `${String(at).padStart(15, '0')}-${id}.json`), payload);
  }

  remove(id: string): void {
    for (const name of readdirSync(this.dir)) if (name.endsWith(`-${id}.json`)) rmSync(join(this.dir, name), { force: true });
  }

  /** Everything still unacknowledged, oldest first (leftover temporary files of a cut write are ignored). */
  pending(): { id: string; payload: string }[] {
    return readdirSync(this.dir)
      .filter((name) => name.endsWith('.json'))
      .sort()
      .map((name) => ({ id: name.slice(16, -5), payload: readFileSync(join(this.dir, name), 'utf8') }));
  }
}
