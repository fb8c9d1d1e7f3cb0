// Fault scenarios on real components, shared by the fast fault tests (npm test) and `npm run bench -- faults`:
// the server program, its embedded broker and SQLite, simulated gateways speaking the real protocol (signed
// proofs kept until the server's storage receipt names them), real agents and ffmpeg where it matters. Each
// scenario injects one fault and counts what was lost against what the gateways sent.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, watch, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import { systemClock } from '../../edge-agent/clock.ts';
import { type SimEvent, Simulator } from '../../edge-agent/simulator.ts';
import { chunked, type Db } from '../../server/db/client.ts';
import { makeTone } from './audio.ts';
import { type ApiTarget, api, enrollTokenFile, provisionDevice, type TestServer, uploadApproved } from './server.ts';
import { processesMentioning, type ServerProcess, serverProcess, until } from './server-process.ts';

const ROOT = join(import.meta.dirname, '../..');

/** What a proof scenario counts: reports the gateways signed and sent, and what the server has of them. */
export interface ProofFigures {
  gateways: number;
  sent: number;
  stored: number;
  /** Sent but not in the server's proof table once every gateway's outbox is empty. */
  lost: number;
  /** Stored more than once for the same airing and kind. */
  duplicates: number;
  /** Airings every gateway played in full that the server does not call aired. */
  falseMissed: number;
  /** "missed" alerts raised for those airings. */
  falseAlerts: number;
  /** Refusals with the store down (no receipt sent). */
  storeFailures?: number;
}

/** `n` station codes of the seeded map, from the `offset`-th on (in the API's order). */
export async function stationCodes(server: ApiTarget, n: number, offset: number): Promise<string[]> {
  const r = await api(server, 'GET', `/stations?limit=${n}&offset=${offset}`);
  const codes = (r.body.items as { code: string }[] | undefined)?.map((s) => s.code) ?? [];
  if (codes.length < n) throw new Error(`only ${codes.length} stations from offset ${offset}`);
  return codes;
}

/** Provisions one simulated gateway per station and starts them (enrolled, subscribed, reconnecting as the agent does). */
export async function simulatedGateways(server: ApiTarget & { mqttUrl: string }, stations: string[]): Promise<Simulator> {
  const tokens: string[] = [];
  for (let i = 0; i < stations.length; i += 20)
    tokens.push(...(await Promise.all(stations.slice(i, i + 20).map((s) => provisionDevice(server, s)))));
  const sim = new Simulator({ serverUrl: server.url, mqttUrl: server.mqttUrl, clock: systemClock, fetch, agentBackoff: true });
  await sim.start(tokens, 50);
  return sim;
}

const on = (sim: Simulator) => (listener: () => void) => sim.onEvent(() => listener());

/**
 * Schedules a 1-second item on every gateway's station a few seconds ahead and resolves with the
 * airings once every gateway holds it in its plan.
 */
export async function scheduleBurst(server: ApiTarget, sim: Simulator, mediaId: string): Promise<{ occurrences: string[]; at: number }> {
  const stations = sim.gateways.map((g) => g.id);
  const at = Date.now() + 3000 + stations.length * 4;
  const r = await api(server, 'POST', '/schedules', { mediaId, stations, startsAt: new Date(at).toISOString(), conflict: 'preempt' });
  if (r.status !== 201)
    throw new Error(
      `scheduling answered ${r.status}: ${JSON.stringify(r.body)}${'output' in server ? `\nthe server said:\n${(server as { output(): string }).output()}` : ''}`,
    );
  // The answer lists the first 1,000 airings; past that they are read page by page.
  let occurrences = (r.body.occurrences as { id: string }[]).map((o) => o.id);
  if (occurrences.length < stations.length) occurrences = [];
  while (occurrences.length < stations.length) {
    const more = await api(server, 'GET', `/occurrences?schedule=${r.body.id}&limit=1000&offset=${occurrences.length}`);
    const items = more.body.items as { id: string }[];
    if (!items.length) break;
    occurrences.push(...items.map((o) => o.id));
  }
  const wanted = new Set(occurrences);
  const armed = () => sim.gateways.every((g) => g.manifest?.entries.some((e) => wanted.has(e.occurrenceId)));
  const held = () => sim.gateways.filter((g) => g.manifest?.entries.some((e) => wanted.has(e.occurrenceId))).length;
  const versions = () => sim.gateways.map((g) => `${g.id}:v${g.manifest?.version ?? '-'}${g.connected ? '' : '(offline)'}`).join(' ');
  await until(on(sim), armed, 'every gateway to hold the scheduled airing', 60_000).catch((err: Error) => {
    throw new Error(`${err.message}: ${held()} of ${sim.gateways.length} do; ${versions()}`);
  });
  if (Date.now() > at - 300) throw new Error('the plans arrived too late for the airing; schedule further ahead');
  return { occurrences, at };
}

/** Tracks every report the gateways send, and resolves once each gateway has sent its end proof and holds nothing unreceipted. */
export function proofTracker(sim: Simulator, gateways: number) {
  const sent = new Set<string>();
  let completed = 0;
  let receipts = 0;
  const listeners: ((e: SimEvent) => void)[] = [];
  sim.onEvent((e) => {
    if (e.type === 'reported') {
      sent.add(e.id);
      if (e.kind !== 'playback.started') completed++;
    }
    if (e.type === 'receipted') receipts++;
    for (const l of listeners) l(e);
  });
  return {
    sent,
    get receipts() {
      return receipts;
    },
    onEvent: (l: (e: SimEvent) => void) => listeners.push(l),
    settled: (timeoutMs: number) =>
      until(
        on(sim),
        () => completed >= gateways && sim.gateways.every((g) => g.unreceipted.size === 0),
        `all ${gateways} end proofs sent and every outbox empty (${completed} ended, ${sim.gateways.reduce((n, g) => n + g.unreceipted.size, 0)} unreceipted)`,
        timeoutMs,
      ),
  };
}

/** Counts the server's copy of what was sent: stored, lost, duplicates, and airings wrongly not aired. */
export async function countProofs(db: Db, sent: Set<string>, occurrences: string[]): Promise<Omit<ProofFigures, 'gateways'>> {
  const ids = [...sent];
  const stored = new Set<string>();
  let duplicates = 0;
  let falseMissed = 0;
  let falseAlerts = 0;
  for (const part of chunked(ids))
    for (const row of await db.playbackReport.findMany({ where: { id: { in: part } }, select: { id: true } })) stored.add(row.id);
  for (const part of chunked(occurrences)) {
    const groups = await db.playbackReport.groupBy({ by: ['occurrenceId', 'kind'], where: { occurrenceId: { in: part } }, _count: true });
    duplicates += groups.reduce((sum, g) => sum + g._count - 1, 0);
    falseMissed += await db.occurrence.count({ where: { id: { in: part }, status: { not: 'aired' } } });
    falseAlerts += await db.alert.count({ where: { occurrenceId: { in: part }, kind: { in: ['missed', 'offline'] } } });
  }
  return { sent: sent.size, stored: stored.size, lost: ids.filter((id) => !stored.has(id)).length, duplicates, falseMissed, falseAlerts };
}

async function approvedTone(server: ApiTarget, dir: string): Promise<string> {
  const r = await uploadApproved(server, makeTone(join(dir, 'burst.wav'), { seconds: 1, frequency: 660 }));
  if (r.status !== 201) throw new Error(`upload answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body.id as string;
}

/**
 * kill -9 of the server while a burst of proofs arrives (at its first storage receipt), then a restart
 * after `restartDelayMs` (0: at once, while the gateways are already trying to come back).
 */
export async function proofsAcrossServerKill(opts: { gateways: number; restartDelayMs: number }): Promise<ProofFigures> {
  const server = await serverProcess();
  const work = mkdtempSync(join(tmpdir(), 'lp-fault-'));
  let sim: Simulator | undefined;
  try {
    const media = await approvedTone(server, work);
    sim = await simulatedGateways(server, await stationCodes(server, opts.gateways, 100));
    const tracker = proofTracker(sim, opts.gateways);
    const { occurrences } = await scheduleBurst(server, sim, media);
    const killed = new Promise<void>((resolve) => {
      let done = false;
      tracker.onEvent((e) => {
        if (done || e.type !== 'receipted') return;
        done = true;
        void server.kill9().then(resolve);
      });
    });
    await killed;
    if (opts.restartDelayMs) await new Promise((r) => setTimeout(r, opts.restartDelayMs));
    await server.start();
    await tracker.settled(120_000);
    const db = await server.openDb();
    try {
      return { gateways: opts.gateways, ...(await countProofs(db, tracker.sent, occurrences)) };
    } finally {
      await db.$disconnect();
    }
  } finally {
    await sim?.stop();
    await server.stop();
    rmSync(work, { recursive: true, force: true });
    rmSync(server.dataDir, { recursive: true, force: true });
  }
}

/** Mounts a tmpfs of `sizeMb` at a new directory (root only); undefined when this machine does not allow it. */
export async function smallDisk(sizeMb: number): Promise<{ dir: string; unmount: () => Promise<void> } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'lp-small-disk-'));
  const mount = spawn('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m`, 'tmpfs', dir]);
  const [code] = await once(mount, 'exit');
  if (code !== 0) return undefined;
  return {
    dir,
    unmount: async () => {
      const [c] = await once(spawn('umount', ['-l', dir]), 'exit');
      if (c === 0) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Fills the file system holding `dir` to the last byte; returns the filler's path (delete it to free the space). */
export function fillDisk(dir: string): string {
  const file = join(dir, 'filler');
  const fd = openSync(file, 'w');
  const block = Buffer.alloc(1 << 20);
  try {
    for (let size = block.length; size >= 1; ) {
      try {
        writeSync(fd, block, 0, size);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
        size = Math.floor(size / 2);
      }
    }
  } finally {
    closeSync(fd);
  }
  return file;
}

/**
 * The disk fills while proofs arrive: the server (in this process, on a small tmpfs) cannot commit, sends no
 * receipt and says so on /health; the space comes back and the gateways' copies get through.
 */
export async function proofsAcrossFullDisk(opts: {
  gateways: number;
  disk: { dir: string };
  startServer: (dataDir: string) => Promise<TestServer>;
}): Promise<ProofFigures & { healthWhileFull: { status: number; proofsOk: boolean }; healthAfter: { status: number; proofsOk: boolean } }> {
  const server = await opts.startServer(join(opts.disk.dir, 'data'));
  let sim: Simulator | undefined;
  let filler: string | undefined;
  try {
    const media = await approvedTone(server, server.dataDir);
    sim = await simulatedGateways(server, await stationCodes(server, opts.gateways, 300));
    const tracker = proofTracker(sim, opts.gateways);
    const { occurrences } = await scheduleBurst(server, sim, media);
    // The write-ahead log is emptied first, so the next transactions need new space and cannot find it.
    const db = new Database(join(server.dataDir, 'loaphuong.db'));
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    filler = fillDisk(opts.disk.dir);
    let storeFailures = 0;
    await new Promise<void>((resolve) => {
      const seen = (outcome: string, kind: string) => {
        if (outcome === 'rejected' && kind === 'STORE_FAILED' && ++storeFailures >= opts.gateways) {
          server.reports.events.off('handled', seen);
          resolve();
        }
      };
      server.reports.events.on('handled', seen);
    });
    const health = async () => {
      const res = await fetch(`${server.url}/health`);
      return { status: res.status, proofsOk: ((await res.json()) as { proofs: { ok: boolean } }).proofs.ok };
    };
    const healthWhileFull = await health();
    rmSync(filler);
    filler = undefined;
    await tracker.settled(180_000);
    const healthAfter = await health();
    return {
      gateways: opts.gateways,
      ...(await countProofs(server.db, tracker.sent, occurrences)),
      storeFailures,
      healthWhileFull,
      healthAfter,
    };
  } finally {
    if (filler) rmSync(filler, { force: true });
    await sim?.stop();
    await server.stop();
  }
}

/** Starts `npm run agent`'s program; resolves once it logs the event. */
export function agentProcess(args: string[], untilEvent: string): { child: ChildProcess; ready: Promise<void> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'edge-agent/main.ts', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`agent did not log "event ${untilEvent}" within 60 s`)), 60_000);
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      if (line.includes(`"msg":"event ${untilEvent}"`)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`agent exited ${code} before ${untilEvent}`));
    });
  });
  return { child, ready };
}

/** Resolves with the agent's play journal once it satisfies `pred` (written by rename: the folder is watched). */
export function untilJournal(dir: string, pred: (j: { playedMs: number }) => boolean, timeoutMs = 60_000): Promise<{ playedMs: number }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      watcher.close();
      reject(new Error(`the play journal in ${dir} did not show the expected progress within ${timeoutMs} ms`));
    }, timeoutMs);
    const watcher = watch(dir, () => {
      try {
        const j = JSON.parse(readFileSync(join(dir, 'now-playing.json'), 'utf8')) as { playedMs: number };
        if (pred(j)) {
          clearTimeout(timer);
          watcher.close();
          resolve(j);
        }
      } catch {
        // between the write and the rename
      }
    });
  });
}

/** ffmpeg (or sox, espeak-ng) processes whose command line mentions `text`. */
const mediaProcesses = (text: string) => processesMentioning(text).filter((p) => /\b(ffmpeg|ffprobe|sox|espeak-ng)\b/.test(p.cmd));

/** Waits (up to `timeoutMs`, reading /proc each 50 ms) for the media processes mentioning `text` to be gone; returns those left. */
export async function leftBehind(text: string, timeoutMs = 300): Promise<{ pid: number; cmd: string }[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = mediaProcesses(text);
    if (!found.length || Date.now() > deadline) return found;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Kills what a failed check left behind, so one failure does not keep a speaker playing. */
export function killAll(found: { pid: number }[]): void {
  for (const p of found)
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // already gone
    }
}

/**
 * kill -9 of a real agent mid-play (its process only, as a crashed agent or a watchdog would): counts the
 * players (ffmpeg) still running afterwards, which would keep a speaker sounding with nobody reporting it.
 */
export async function orphanPlayersAfterAgentKill(server: TestServer): Promise<{ playersBefore: number; orphans: number }> {
  const media = await uploadApproved(server, makeTone(join(server.dataDir, 'long.wav'), { seconds: 20, frequency: 440 }));
  if (media.status !== 201) throw new Error(`upload answered ${media.status}`);
  const [station] = await stationCodes(server, 1, 500);
  const dataDir = mkdtempSync(join(tmpdir(), 'lp-orphan-agent-'));
  const agent = agentProcess(
    [
      '--enroll-token-file',
      await enrollTokenFile(server, station, dataDir),
      '--server',
      server.url,
      '--mqtt',
      server.mqttUrl,
      '--data-dir',
      dataDir,
    ],
    'subscribed',
  );
  try {
    await agent.ready;
    const r = await api(server, 'POST', '/schedules', {
      mediaId: media.body.id,
      stations: [station],
      startsAt: new Date(Date.now() + 2000).toISOString(),
    });
    if (r.status !== 201) throw new Error(`scheduling answered ${r.status}`);
    await untilJournal(dataDir, (j) => j.playedMs >= 1000);
    const playersBefore = mediaProcesses(dataDir).length;
    const exited = once(agent.child, 'exit');
    agent.child.kill('SIGKILL');
    await exited;
    const left = await leftBehind(dataDir);
    killAll(left);
    return { playersBefore, orphans: left.length };
  } finally {
    agent.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** kill -9 of the server during an encode: counts the encoders (ffmpeg) still running afterwards. */
export async function orphanEncodersAfterServerKill(): Promise<{ encodersBefore: number; orphans: number }> {
  const server = await serverProcess();
  try {
    const form = new FormData();
    const file = makeTone(join(server.dataDir, 'long-upload.wav'), { seconds: 600, frequency: 330, amplitude: 0.2 });
    form.append('file', new Blob([readFileSync(file)], { type: 'audio/wav' }), 'long-upload.wav');
    rmSync(file);
    const res = await fetch(`${server.url}/api/v1/media?async=true`, { method: 'POST', headers: server.auth, body: form });
    if (res.status !== 202) throw new Error(`async upload answered ${res.status}: ${await res.text()}`);
    const uploads = join(server.dataDir, 'uploads');
    const deadline = Date.now() + 30_000;
    let encoders = mediaProcesses(uploads);
    while (!encoders.length && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      encoders = mediaProcesses(uploads);
    }
    if (!encoders.length) throw new Error('no encoder started within 30 s');
    await server.kill9();
    const left = await leftBehind(server.dataDir);
    killAll(left);
    return { encodersBefore: encoders.length, orphans: left.length };
  } finally {
    await server.kill9();
    rmSync(server.dataDir, { recursive: true, force: true });
  }
}

/**
 * The server's process runner in a child process running a quiet, long ffmpeg (nothing on its pipes, so a
 * dead parent is never noticed through them), then kill -9 of that child: counts the ffmpeg left running.
 */
export async function orphansOfKilledRunner(): Promise<{ before: number; orphans: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'lp-runner-orphan-'));
  const out = join(dir, 'quiet.wav');
  const script = `import { spawnRunner } from './server/media/process-runner.ts';
spawnRunner({ cmd: 'ffmpeg', args: ['-v', 'quiet', '-nostats', '-re', '-f', 'lavfi', '-i', 'sine=d=60', '-y', ${JSON.stringify(out)}] });
console.log('spawned');`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the runner child did not start ffmpeg within 30 s')), 30_000);
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (l) => {
        if (l === 'spawned') {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    const deadline = Date.now() + 10_000;
    // The runner's own command line names the file too: only its ffmpeg counts, once setpriv has set the
    // death signal and exec'd it (killed in the microseconds before, the child is setpriv and escapes).
    const players = () => mediaProcesses(out).filter((p) => p.pid !== child.pid && /^\S*ffmpeg /.test(p.cmd));
    let before = players();
    while (!before.length && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      before = players();
    }
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
    const left = await leftBehind(out, 1000);
    killAll(left);
    return { before: before.length, orphans: left.length };
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A reconnect storm: `gateways` simulated gateways (reconnecting with the agent's backoff) lose the server
 * to kill -9 and come back once it has restarted. Measures from the restart being ready until every one
 * is connected again.
 */
export async function reconnectStorm(opts: { gateways: number }): Promise<{ reconnectAllMs: number; restartMs: number }> {
  const server = await serverProcess();
  let sim: Simulator | undefined;
  try {
    // More gateways than stations: several gateways per station, as stations with many speaker points have.
    const stations = await stationCodes(server, Math.min(opts.gateways, 500), 0);
    sim = await simulatedGateways(
      server,
      Array.from({ length: opts.gateways }, (_, i) => stations[i % stations.length] as string),
    );
    const back = new Set<string>();
    sim.onEvent((e) => {
      if (e.type === 'reconnected') back.add(e.device);
    });
    await server.kill9();
    const restarting = performance.now();
    await server.start();
    const ready = performance.now();
    const all = sim.gateways;
    await until(on(sim), () => all.every((g) => back.has(g.id) && g.connected), `all ${opts.gateways} gateways reconnected`, 600_000);
    return { reconnectAllMs: performance.now() - ready, restartMs: ready - restarting };
  } finally {
    await sim?.stop();
    await server.stop();
    rmSync(server.dataDir, { recursive: true, force: true });
  }
}

export type { ServerProcess };
