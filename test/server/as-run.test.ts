// The as-run log: statuses derived from schedules and proofs, the pure rule and through the API with a
// real agent, server, broker and ffmpeg on a fake clock.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import ExcelJS from 'exceljs';
import t from 'tap';
import { AS_RUN_RULES, asRun } from '../../server/compliance/as-run.ts';
import { hanoiDay } from '../../server/scheduling/recurrence.ts';
import { onlineAgent } from '../helpers/agent.ts';
import { makeTone } from '../helpers/audio.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { matchExact } from '../helpers/match.ts';
import { databaseEnv, scheduleItem, startTestServer, uploadApproved } from '../helpers/server.ts';

const at = new Date('2026-11-23T00:00:00Z');
const later = (ms: number) => new Date(at.getTime() + ms);
const airing = { startsAt: at, expectedMs: 60_000, startWindowMs: 0 };

t.test('each end proof maps to one status and discrepancy code', (t) => {
  const done = (end: object, startedAt = at) =>
    asRun({ ...airing, startedAt, end: { kind: 'completed', playedMs: 60_000, ...end } }, later(0));
  t.same(done({}), { status: 'aired', lateMs: 0 });
  t.same(done({}, later(2000)), { status: 'aired', lateMs: 2000 }, 'within the 2 s tolerance');
  t.same(done({}, later(2001)), { status: 'late', lateMs: 2001 });
  t.same(done({ playedMs: 58_800 }), { status: 'aired', lateMs: 0 }, '98 % is in full');
  t.same(done({ playedMs: 58_799 }), { status: 'partial', reason: 'device-fault', lateMs: 0 });
  t.same(done({ playedMs: 20_000, reason: 'PREEMPTED' }), { status: 'partial', reason: 'preempted', lateMs: 0, deviceReason: 'PREEMPTED' });
  t.same(done({ playedMs: 20_000, reason: 'INTERRUPTED' }), {
    status: 'partial',
    reason: 'device-fault',
    lateMs: 0,
    deviceReason: 'INTERRUPTED',
  });
  t.same(done({ rmsDbfs: -200 }), { status: 'missed', reason: 'silent', lateMs: 0 }, 'silence on the air is not an airing');
  t.same(done({ rmsDbfs: AS_RUN_RULES.silentBelowDbfs + 0.01 }).status, 'aired');
  const failed = (reason: string | undefined) =>
    asRun({ ...airing, startedAt: at, end: { kind: 'failed', playedMs: 0, reason } }, later(0));
  const expected: [string | undefined, string, string][] = [
    ['CONFLICT', 'skipped', 'preempted'],
    ['QUIET_HOURS', 'skipped', 'policy'],
    ['EXPIRED_ITEM', 'skipped', 'stale'],
    ['CANCELLED', 'skipped', 'cancelled'],
    ['MISSED_WINDOW', 'missed', 'offline'],
    ['FILE_MISSING', 'missed', 'file-missing'],
    ['PLAYER_ERROR', 'missed', 'device-fault'],
    ['UNKNOWN_ZONE', 'missed', 'device-fault'],
    ['SOMETHING_NEWER', 'missed', 'device-fault'],
    [undefined, 'missed', 'device-fault'],
  ];
  for (const [reason, status, code] of expected) t.match(failed(reason), { status, reason: code }, `${reason}`);
  t.end();
});

t.test('without an end proof an airing is pending, then missed (offline) once its window and the grace have passed', (t) => {
  const closes = airing.expectedMs + AS_RUN_RULES.proofGraceMs;
  t.same(asRun(airing, later(-1)), { status: 'pending' });
  t.same(asRun(airing, later(closes - 1)), { status: 'pending' });
  t.same(asRun(airing, later(closes)), { status: 'missed', reason: 'offline' });
  t.same(asRun({ ...airing, startWindowMs: 300_000 }, later(closes)), { status: 'pending' }, 'a start window keeps it open');
  t.same(asRun({ ...airing, startedAt: later(500) }, later(1000)), { status: 'playing', lateMs: 500 });
  t.same(
    asRun({ ...airing, startedAt: later(500) }, later(closes)),
    { status: 'partial', reason: 'offline', lateMs: 500 },
    'started, never finished',
  );
  t.end();
});

t.test('the as-run API: a station that plays is aired, one that never reports is missed, never compliant', async (t) => {
  const clock = new FakeClock(Date.now());
  const server = await startTestServer({ now: clock.date });
  t.teardown(() => server.stop());
  const playing = 'HN-00019';
  const silent = 'HN-00022'; // no gateway ever reports
  const gw = await onlineAgent(t, { station: playing, server, clock });
  const { body: media } = await uploadApproved(server, makeTone(join(server.dataDir, 'asrun.wav'), { seconds: 1 }));
  const start = clock.now() + 60_000;
  const aired = await scheduleItem(server, media.id, playing, start);
  const missed = await scheduleItem(server, media.id, silent, start);
  await gw.waitFor('cached');
  const stored = new Promise<void>((resolve) =>
    server.reports.events.on('handled', (outcome: string, kind: string) => {
      if (outcome === 'stored' && kind === 'playback.completed') resolve();
    }),
  );
  clock.advanceTo(start);
  await stored;

  const query = async (params: Record<string, string>) => {
    const res = await fetch(`${server.url}/api/v1/as-run?${new URLSearchParams(params)}`, { headers: server.auth });
    return {
      status: res.status,
      body: (await res.json()) as { totals: Record<string, number>; items: { occurrenceId: string; status: string; reason?: string }[] } & {
        error?: { code: string };
      },
    };
  };
  const range = { from: new Date(start - 3600_000).toISOString(), to: new Date(start + 3600_000).toISOString() };
  const pending = await query(range);
  t.equal(pending.status, 200);
  const byId = (body: typeof pending.body) => Object.fromEntries(body.items.map((i) => [i.occurrenceId, i]));
  t.match(byId(pending.body)[aired], { status: 'aired', lateMs: 0 });
  t.match(byId(pending.body)[missed], { status: 'pending' }, 'still inside its window');

  clock.advanceTo(start + (media.durationMs as number) + AS_RUN_RULES.proofGraceMs);
  const closed = await query(range);
  t.match(byId(closed.body)[missed], { status: 'missed', reason: 'offline' });
  t.match(closed.body.totals, { aired: 1, missed: 1, pending: 0 });
  const onlyMissed = await query({ ...range, status: 'missed' });
  t.same(
    onlyMissed.body.items.map((i) => i.occurrenceId),
    [missed],
    'the status filter',
  );
  t.match((await query({ ...range, station: playing })).body.totals, { aired: 1, missed: 0 });

  t.match(await query({ from: range.to, to: range.from }), { status: 400, body: { error: { code: 'INVALID_RANGE' } } });
  t.match(await query({ from: range.from, to: new Date(start + 400 * 86_400_000).toISOString() }), {
    status: 400,
    body: { error: { code: 'RANGE_TOO_LONG' } },
  });
  t.match(await query({ ...range, unit: 'nowhere' }), { status: 404, body: { error: { code: 'UNKNOWN_UNIT' } } });

  // The report for the office: rolled up to the districts, and the same figures in CSV and XLSX.
  const report = async (params: Record<string, string>) =>
    fetch(`${server.url}/api/v1/compliance/report?${new URLSearchParams({ ...range, ...params })}`, { headers: server.auth });
  const json = (await (await report({})).json()) as { total: Record<string, unknown>; groups: { key: string; scheduled: number }[] };
  t.match(json.total, { scheduled: 2, aired: 1, missed: 1, stations: 2, complianceRate: 0.5, onTimeRate: 0.5 });
  t.equal(json.groups.length, 1, 'both stations are in one district');
  t.match(json.groups[0], { key: '001', scheduled: 2 }, 'Ba Đình, rolled up from its communes');
  const byStation = (await (await report({ groupBy: 'station' })).json()) as { groups: { key: string; complianceRate: number }[] };
  t.same(
    byStation.groups.map((g) => [g.key, g.complianceRate]),
    [
      [playing, 1],
      [silent, 0],
    ],
  );
  const csv = await report({ format: 'csv' });
  t.match(csv.headers.get('content-type'), /text\/csv/);
  const csvText = await csv.text();
  t.match(csvText, /Phát đủ đúng giờ \(aired\)/);
  t.match(csvText.trim().split('\n').at(-1), /^,Tổng cộng \(total\),2,1,0,0,1,0,0,2,0\.5,0\.5,/);
  const xlsx = await report({ format: 'xlsx' });
  matchExact(t, xlsx.headers.get('content-disposition'), /\.xlsx"$/);
  const book = new ExcelJS.Workbook();
  await book.xlsx.load(Buffer.from(await xlsx.arrayBuffer()) as unknown as ArrayBuffer);
  const sheet = book.worksheets[0];
  const last = sheet?.getRow(sheet.rowCount).values as unknown[];
  t.same(last.slice(2, 13), ['Tổng cộng (total)', 2, 1, 0, 0, 1, 0, 0, 2, 0.5, 0.5], 'the XLSX parses back to the same totals');

  const page = await (await report({ format: 'html', groupBy: 'station' })).text();
  matchExact(t, page, /<svg[^>]*role="img"/, 'the printable page carries its chart inline');
  matchExact(t, page, /Đài Điện Biên[\s\S]*100\.0 %/, 'each station with its rate');
  t.match(page, /Tỷ lệ phát đủ \(compliance\): <b>50\.0 %<\/b>/);
  t.notMatch(page, /<script|https?:\/\//, 'nothing to fetch or run: it prints and archives as it is');

  // Tamper evidence: the day's proofs verify, then every kind of tampering is named.
  const day = hanoiDay(new Date(start));
  const verify = async () =>
    (await (await fetch(`${server.url}/api/v1/stations/${playing}/proofs/${day}/verify`, { headers: server.auth })).json()) as {
      ok: boolean;
      proofs: number;
      problems: { seq: number; code: string }[];
    };
  const verified = await verify();
  t.match(verified, { ok: true, proofs: 2 }, 'started and completed, chained and signed');
  t.same(verified.problems, [], 'no problem found');
  // Run beside the in-process server, never blocking it (a synchronous wait freezes its keep-alive timers,
  // and the next request can meet a socket the server closes as it wakes).
  const cli = () =>
    new Promise<{ status: number | null; stdout: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'server/verify-cli.ts', playing, day], {
        env: { ...process.env, ...databaseEnv(server) },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let stdout = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        stdout += d;
      });
      child.once('close', (status) => resolve({ status, stdout }));
    });
  t.equal((await cli()).status, 0, 'the verify command agrees');

  const completed = await server.db.playbackReport.findFirstOrThrow({ where: { occurrenceId: aired, kind: 'completed' } });
  await server.db.playbackReport.update({ where: { id: completed.id }, data: { playedMs: 1 } });
  matchExact(t, (await verify()).problems, [{ seq: 2, code: 'FIELDS_MISMATCH' }], 'a column edited behind the signature');
  const forged = completed.raw.replace(/"playedMs":\d+/, '"playedMs":999999');
  await server.db.playbackReport.update({ where: { id: completed.id }, data: { playedMs: 999999, raw: forged } });
  matchExact(
    t,
    (await verify()).problems.map((p) => p.code),
    ['HASH_MISMATCH', 'BAD_SIGNATURE'],
    'a proof rewritten whole: the chain and the device signature both catch it',
  );
  const run = await cli();
  t.equal(run.status, 1, 'the verify command fails');
  t.match(run.stdout, /FAILED: 2 problem\(s\) in 2 proofs/);
  await server.db.playbackReport.update({ where: { id: completed.id }, data: { playedMs: completed.playedMs, raw: completed.raw } });
  t.match(await verify(), { ok: true }, 'restored');
  const first = await server.db.playbackReport.findFirstOrThrow({ where: { occurrenceId: aired, kind: 'started' } });
  await server.db.playbackReport.delete({ where: { id: first.id } });
  matchExact(
    t,
    (await verify()).problems,
    [
      { seq: 2, code: 'SEQ_GAP' },
      { seq: 2, code: 'BROKEN_LINK' },
    ],
    'a proof removed',
  );
});
