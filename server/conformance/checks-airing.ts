// [P-10] checks, part 2: what the device airs and proves. One genuine manifest holds every item, a minute
// apart where the policy's minute-wide ranges must tell them apart (UTC+7 wall clock, [P-3.1.3]):
//   M+5 s      on-time         3 s tone at half scale: starts on time, proven in full at −9.03 dBFS
//   M+20 s     bad-hash        its file on the server does not match its sha256: never aired, FILE_MISSING
//   M+65 s     ceiling         same tone under maxVolume 50: 6.02 dB lower; before it the device restarts
//                              with the broker's retained manifest cleared: it must air from its stored plan
//   M+125 s    quiet           quiet hours: QUIET_HOURS, not aired; its report withheld from the server
//                              to see the outbox send it again until a receipt names it
//   M+150 s    quiet-alarm     priority emergency in quiet hours: airs
//   M+185 s    long            8 s tone, cut by an emergency.start command: PREEMPTED; the alert airs
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ManifestEntry } from '#protocol';
import { spawnRunner } from '../media/process-runner.ts';
import type { Kit, SeenReport } from './kit.ts';
import type { Results } from './results.ts';

export interface Tones {
  half: ManifestEntry['media'];
  long: ManifestEntry['media'];
  broken: ManifestEntry['media'];
}

/** The tone at amplitude 1/2: 20·log10(0.5/√2). */
const HALF_RMS_DBFS = -9.03;
const START_TOLERANCE_MS = 1000;

/** A test tone as the server stores audio ([P-3.1] codec opus): Ogg Opus, mono, 48 kHz, put in its blob store. */
export async function makeTone(
  kit: Kit,
  name: string,
  opts: { seconds: number; frequency: number; amplitude: number },
): Promise<ManifestEntry['media']> {
  const dir = join(kit.opts.dataDir, 'conformance');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.ogg`);
  const expr = `${opts.amplitude}*sin(2*PI*${opts.frequency}*t)`;
  const args = ['-v', 'error', '-y', '-f', 'lavfi', '-i', `aevalsrc=${expr}:s=48000:d=${opts.seconds}`];
  const run = await spawnRunner({ cmd: 'ffmpeg', args: [...args, '-ac', '1', '-c:a', 'libopus', '-b:a', '64k', file] });
  if (run.code !== 0) throw new Error(`ffmpeg could not make the test tone: ${run.stderr}`);
  const { sha256, sizeBytes } = await kit.server.blobs.adopt(file);
  return { sha256, path: `/blobs/${sha256}`, durationMs: opts.seconds * 1000, sizeBytes, codec: 'opus' };
}

/** Replaces the blob of `media` on the server with other bytes: its sha256 no longer matches. */
export function corruptBlob(kit: Kit, media: ManifestEntry['media']): void {
  const { blobs } = kit.server;
  writeFileSync(join(blobs.dir, blobs.fileName(media.sha256)), Buffer.alloc(media.sizeBytes, 0x4f));
}

const hhmm = (ms: number) => new Date(ms + 7 * 3600_000).toISOString().slice(11, 16);

export function airingPlan(kit: Kit, tones: Tones) {
  const M = Math.ceil((kit.clock.now() + 150_000) / 60_000) * 60_000;
  const entry = (id: string, at: number, media: ManifestEntry['media'], priority: ManifestEntry['priority'] = 'normal'): ManifestEntry => ({
    occurrenceId: `cf-${id}`,
    startsAt: new Date(at).toISOString(),
    priority,
    media,
  });
  const entries = {
    onTime: entry('on-time', M + 5000, tones.half),
    badHash: entry('bad-hash', M + 20_000, tones.broken),
    ceiling: entry('ceiling', M + 65_000, tones.half),
    quiet: entry('quiet', M + 125_000, tones.half),
    quietAlarm: entry('quiet-alarm', M + 150_000, tones.half, 'emergency'),
    long: entry('long', M + 185_000, tones.long),
  };
  const policy = {
    timeZone: 'Asia/Ho_Chi_Minh',
    maxVolume: [{ start: hhmm(M + 60_000), end: hhmm(M + 120_000), level: 50 }],
    quietHours: [{ start: hhmm(M + 120_000), end: hhmm(M + 180_000) }],
  };
  return { entries, policy, list: Object.values(entries) };
}

const at = (e: ManifestEntry) => Date.parse(e.startsAt);
const describe = (r: SeenReport | undefined) =>
  r
    ? `${r.report.kind}${r.report.reason ? ` ${r.report.reason}` : ''}, started ${r.report.startedAt}, playedMs ${r.report.playedMs ?? '-'}, rms ${r.report.level?.rmsDbfs ?? '-'} dBFS${r.verdict === 'ok' ? '' : `, its signature: ${r.verdict}`}`
    : 'no report';

export async function airingChecks(kit: Kit, r: Results, plan: ReturnType<typeof airingPlan>): Promise<void> {
  const { entries } = plan;
  const ends = ['playback.completed', 'playback.failed'];

  await kit.clock.passTo(at(entries.onTime));
  const started = await kit.report(entries.onTime.occurrenceId, ['playback.started']);
  const lateMs = started ? Date.parse(started.report.startedAt) - at(entries.onTime) : Number.NaN;
  r.add(
    'P-5.4, P-3.2',
    `starts an item at its startsAt (within ${START_TOLERANCE_MS} ms by its own clock) and proves the start, signed`,
    started?.verdict === 'ok' && started.report.scheduledAt === entries.onTime.startsAt && Math.abs(lateMs) <= START_TOLERANCE_MS,
    started ? `${describe(started)}; ${lateMs} ms after startsAt` : 'no playback.started',
  );
  await kit.clock.passTo(at(entries.onTime) + entries.onTime.media.durationMs);
  const done = await kit.report(entries.onTime.occurrenceId, ends);
  const rp = done?.report;
  const full =
    done?.verdict === 'ok' &&
    rp.kind === 'playback.completed' &&
    rp.sha256 === entries.onTime.media.sha256 &&
    rp.expectedMs === entries.onTime.media.durationMs &&
    rp.playedMs >= 0.98 * rp.expectedMs &&
    rp.playedMs <= Date.parse(rp.endedAt) - Date.parse(rp.startedAt) + 2000;
  r.add('P-3.2, P-5.4', 'proves the item aired in full (playedMs ≥ 98 % of expectedMs, within the elapsed time)', full, describe(done));
  const reference = rp?.level?.rmsDbfs as number | undefined;
  r.add(
    'P-3.2',
    `measures the level it played: a half-scale sine reads ${HALF_RMS_DBFS} dBFS RMS (±1.5 dB)`,
    reference !== undefined && Math.abs(reference - HALF_RMS_DBFS) <= 1.5,
    `rmsDbfs ${reference ?? 'absent'}, peakDbfs ${rp?.level?.peakDbfs ?? 'absent'}`,
  );

  await kit.clock.passTo(at(entries.badHash));
  const bad = await kit.report(entries.badHash.occurrenceId, ends);
  const badStarted = Boolean(kit.reported(entries.badHash.occurrenceId, ['playback.started']));
  r.add(
    'P-5.3',
    'never airs audio whose sha256 differs from the manifest; reports FILE_MISSING at airtime',
    bad?.report.kind === 'playback.failed' && bad.report.reason === 'FILE_MISSING' && !badStarted,
    `${describe(bad)}${badStarted ? '; it was started' : ''}`,
  );

  // [P-5.2] The broker forgets the plan (its retained manifest cleared) and the device restarts: the next
  // item must air from what the device stored.
  await kit.publishManifest('', true);
  const beforeRestart = kit.seen.length;
  const restarted = await kit.restart();
  const back = restarted ? await kit.until(() => kit.stateSince(beforeRestart)) : undefined;
  await kit.clock.passTo(at(entries.ceiling) + entries.ceiling.media.durationMs);
  const capped = await kit.report(entries.ceiling.occurrenceId, ends);
  const restartTitle = 'keeps its plan across a restart and airs the next item from it, with no manifest on the broker';
  if (!restarted) r.notRun('P-5.2', restartTitle, 'the device was started by hand: the kit cannot restart it');
  else
    r.add(
      'P-5.2',
      restartTitle,
      Boolean(back) && capped?.report.kind === 'playback.completed',
      `${back ? 'online again after the restart' : 'never online again'}; the next item: ${describe(capped)}`,
    );
  // The broker holds the plan again, as a server's broker always does.
  await kit.publishManifest(kit.lastApplied, true);
  const drop = reference !== undefined ? reference - (capped?.report.level?.rmsDbfs ?? Number.NaN) : Number.NaN;
  r.add(
    'P-3.1.3, P-3.5',
    "caps its output at the policy's maxVolume for the time of day (level 50: 6.02 dB lower, ±1 dB)",
    capped?.report.kind === 'playback.completed' && Math.abs(drop - 6.02) <= 1,
    `${describe(capped)}; ${Number.isNaN(drop) ? 'no level to compare' : `${drop.toFixed(2)} dB under the uncapped play`}`,
  );

  // The quiet item's report is withheld from the server: no receipt, so the outbox must send it again.
  await kit.server.ingest(false);
  await kit.clock.passTo(at(entries.quiet));
  const quiet = await kit.report(entries.quiet.occurrenceId, ends);
  const quietStarted = Boolean(kit.reported(entries.quiet.occurrenceId, ['playback.started']));
  r.add(
    'P-3.1.3',
    'does not start a normal item inside quiet hours (QUIET_HOURS)',
    quiet?.report.kind === 'playback.failed' && quiet.report.reason === 'QUIET_HOURS' && !quietStarted,
    describe(quiet),
  );
  const copies = () => kit.reports.filter((x) => quiet && x.id === quiet.id).length;
  // The device's clock moves a second at a time (a fake one too) until it has sent the report again,
  // then, with the server taking reports again, until a receipt names it (its backoff doubles meanwhile).
  let step = 0;
  const stepUntil = async <T>(find: () => T | undefined, steps: number) => {
    for (let n = 0; quiet && n < steps; n++) {
      await kit.clock.passTo(at(entries.quiet) + ++step * 1000);
      const found = await kit.until(find, 2000);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  const resent = await stepUntil(() => (copies() > 1 ? true : undefined), 8);
  await kit.server.ingest(true);
  const receipted = await stepUntil(
    () =>
      kit.seen.find(
        (s) =>
          s.channel === 'receipt' &&
          quiet &&
          (s.body?.stored?.includes(quiet.id) || s.body?.refused?.some((x: { id: string }) => x.id === quiet.id)),
      ),
    16,
  );
  r.add(
    'P-3.2, P-3.8, P-5.4',
    'sends a report again, under its own id, until a storage receipt names it (the backoff of P-1.2)',
    Boolean(resent && receipted),
    quiet
      ? `${copies()} copies of report ${quiet.id}; ${receipted ? 'receipt seen once the server took reports again' : 'no receipt'}`
      : 'no report to follow',
  );

  await kit.clock.passTo(at(entries.quietAlarm));
  const alarm = await kit.report(entries.quietAlarm.occurrenceId, ['playback.started']);
  r.add('P-3.1.3, P-5.5', 'airs an emergency-priority item inside quiet hours', alarm?.verdict === 'ok', describe(alarm));
  await kit.report(entries.quietAlarm.occurrenceId, ends);

  await kit.clock.passTo(at(entries.long));
  const long = await kit.report(entries.long.occurrenceId, ['playback.started']);
  const txn = `cf-${randomUUID().slice(0, 8)}`;
  const alertId = `cf-alert-${randomUUID().slice(0, 6)}`;
  const from = kit.seen.length;
  if (long)
    await kit.publishCommand(
      kit.seal('command', { action: 'emergency.start', txn, occurrenceId: alertId, media: entries.onTime.media }, { ttlMs: 60_000 }),
    );
  const cut = long ? await kit.report(entries.long.occurrenceId, ends) : undefined;
  const alert = long ? await kit.report(alertId, ['playback.started']) : undefined;
  const reply = long ? await kit.until(() => kit.replySince(from, txn)) : undefined;
  r.add(
    'P-5.5, P-3.6',
    'an emergency.start cuts what plays (reported PREEMPTED), airs the alert and replies ok',
    cut?.report.reason === 'PREEMPTED' && cut.report.playedMs < entries.long.media.durationMs && Boolean(alert) && reply?.body?.ok === true,
    long
      ? `cut: ${describe(cut)}; alert: ${describe(alert)}; reply: ${reply ? JSON.stringify(reply.body) : 'none'}`
      : 'the long item never started',
  );
  if (alert) await kit.report(alertId, ends);
}
