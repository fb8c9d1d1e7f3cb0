// Durable agent state on the gateway's disk: written to a temp file, fsync'd, then renamed,
// so a power cut leaves either the old state or the new one, never half of each.
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  existsSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import { GroupPlan, Manifest, ManifestEntry } from '#protocol';
import * as z from '#protocol/zod';

export const AgentState = z.object({
  /** What enrollment gave this gateway ([P-5.1]); absent until it has enrolled. */
  enrollment: z.optional(
    z.object({
      device: z.string(),
      station: z.string(),
      mqtt: z.object({ url: z.string(), clientId: z.string(), username: z.string(), password: z.string() }),
      groups: z.array(z.string()),
      /** [P-5.1.1] The zone codes the server addresses this gateway's outputs by (absent from older servers). */
      zones: z.optional(z.array(z.string())),
    }),
  ),
  /** [P-4.7] The server keys trusted: from enrollment, then from each applied manifest's serverKeys. */
  serverKeys: z._default(z.array(z.object({ kid: z.string(), publicKeyHex: z.string(), validUntil: z.optional(z.string()) })), []),
  /** The single server key of agents before key rotation (read once, moved into serverKeys). */
  serverKeyHex: z.optional(z.string()),
  serverKid: z.optional(z.string()),
  /** Highest envelope sequence accepted from the server, over manifests and commands ([P-4.3]). */
  lastSeq: z._default(z.number(), -1),
  /** Ids of server messages accepted recently (bounded), so a replayed command is refused. */
  seenIds: z._default(z.array(z.string()), []),
  /** Output level per zone, 0-100; "*" is every zone ([P-3.5] volume). */
  volume: z._default(z.record(z.string(), z.number()), {}),
  manifest: z.optional(Manifest),
  manifestId: z.optional(z.string()),
  /** [P-3.10] The latest group plan received per unit code (the manifest says which of them air). */
  groupPlans: z._default(z.record(z.string(), GroupPlan), {}),
  /** Occurrences already started here, so a restart never airs one twice. */
  played: z._default(z.array(z.string()), []),
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
  playedMs: z._default(z.number(), 0),
  checkpointAt: z.number(),
  level: z.optional(z.object({ rmsDbfs: z.number(), peakDbfs: z.number() })),
  zones: z.optional(z.array(z.string())),
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

/** A local file that could not be read, and where it was kept. */
export interface CorruptFile {
  file: string;
  keptAs: string;
  error: string;
}

/** The state cannot be read and no earlier generation can stand in: the operator decides (see the message). */
export class CorruptStateError extends Error {
  readonly code = 'CORRUPT_STATE';
}

export class StateStore {
  private readonly file: string;
  private readonly prevFile: string;
  /** Files found unreadable since this store was made, each moved aside rather than overwritten. */
  readonly corrupt: CorruptFile[] = [];

  /** `reset`: the operator's explicit choice to start without an unreadable state (a new enrollment follows). */
  constructor(
    private readonly dir: string,
    private readonly opts: { reset?: boolean; now?: () => number } = {},
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.file = join(dir, 'state.json');
    this.prevFile = join(dir, 'state.prev.json');
  }

  /**
   * The state, never silently reset: an unreadable state.json is kept aside and the previous generation
   * (state.prev.json, one save older) stands in; with neither readable the agent refuses to start, since
   * its enrollment and replay memory are in there, unless the operator chose to reset.
   */
  load(): AgentState {
    const current = this.read(this.file, AgentState);
    if (current !== undefined) return current;
    if (!existsSync(this.file) && !existsSync(this.prevFile)) return AgentState.parse({});
    const prev = this.read(this.prevFile, AgentState);
    if (prev !== undefined) return prev;
    if (this.opts.reset) return AgentState.parse({});
    throw new CorruptStateError(
      `the agent state in ${this.dir} is unreadable (kept as ${this.corrupt.map((c) => c.keptAs).join(', ')}): it holds this gateway's ` +
        'enrollment and replay memory. Restore a readable copy, or start once with --reset-state and a new enrollment token from provisioning.',
    );
  }

  /** A file's content as `schema` reads it; undefined when absent or unreadable (then kept aside and recorded). */
  private read<T>(file: string, schema: z.ZodMiniType<T>): T | undefined {
    if (!existsSync(file)) return undefined;
    let error: string;
    try {
      const parsed = schema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
      if (parsed.success) return parsed.data;
      error = parsed.error.message;
    } catch (err) {
      error = (err as Error).message;
    }
    this.keepAside(file, error);
    return undefined;
  }

  /** Moves an unreadable file to `<name>.corrupt-<time>` and records it. */
  private keepAside(file: string, error: string): void {
    // Never over an earlier kept file: each is evidence of its own.
    const stamp = (this.opts.now ?? Date.now)();
    let keptAs = `${file}.corrupt-${stamp}`;
    for (let n = 1; existsSync(keptAs); n++) keptAs = `${file}.corrupt-${stamp}-${n}`;
    renameSync(file, keptAs);
    this.corrupt.push({ file: basename(file), keptAs, error: error.slice(0, 300) });
  }

  /** The last state stays readable as state.prev.json until the new one has its name. */
  save(state: AgentState): void {
    if (existsSync(this.file)) {
      rmSync(this.prevFile, { force: true });
      try {
        linkSync(this.file, this.prevFile);
      } catch {
        // A file system without hard links (FAT on some gateways' cards): a copy does the same.
        copyFileSync(this.file, this.prevFile);
      }
    }
    writeFileAtomic(this.file, JSON.stringify(state));
  }

  private get nowPlayingFile(): string {
    return join(this.dir, 'now-playing.json');
  }

  /** A small file of its own: rewritten every second while playing, unlike the (larger) state. */
  saveNowPlaying(now: NowPlaying): void {
    writeFileAtomic(this.nowPlayingFile, JSON.stringify(now));
  }

  /** The journal of what played when the process ended; an unreadable one is kept aside and recorded, not dropped. */
  loadNowPlaying(): NowPlaying | undefined {
    return this.read(this.nowPlayingFile, NowPlaying);
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
