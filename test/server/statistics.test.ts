// The figures of server/STATISTICS-API.md on one scenario (test/helpers/compliance-day.ts) with exact expected
// numbers: coverage per airing and per station, compliance and on-time rates, the emergency/regular split,
// uptime counted from entry into service; and the report's inputs and files as a provincial officer uses
// them. The as-run verdicts are written as the ingest writes them (their derivation from proofs is
// test/e2e/compliance.test.ts's).
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ExcelJS from 'exceljs';
import t from 'tap';
import { seedComplianceDay } from '../helpers/compliance-day.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { matchExact } from '../helpers/match.ts';
import { api, startTestServer } from '../helpers/server.ts';

const HOUR = 3600_000;
const pdftotext = spawnSync('pdftotext', ['-v']).error ? undefined : 'pdftotext';
// A Hanoi day, two days before the server's now.
const from = new Date('2026-11-20T00:00:00+07:00');
const to = new Date(from.getTime() + 24 * HOUR);
const clock = new FakeClock(from.getTime() + 48 * HOUR);
const server = await startTestServer({ now: clock.date });
t.teardown(() => server.stop());
const { stations, ids } = await seedComplianceDay(server, from);
const { A, B, C, D } = ids;

const range = `from=${encodeURIComponent(from.toISOString())}&to=${encodeURIComponent(to.toISOString())}&unit=016`;

t.test('each figure, exactly', async (t) => {
  const r = await api(server, 'GET', `/compliance/report?${range}&groupBy=station`);
  t.equal(r.status, 200);
  matchExact(t, r.body.total, {
    scheduled: 9,
    aired: 4,
    late: 1,
    missed: 3,
    skipped: 1,
    stations: 4,
    complianceRate: 0.625, // (4 aired + 1 late) / 8 due
    onTimeRate: 0.5, // 4 aired / 8 due
    coverageRate: 0.375, // 3 within ±2 s / 8 due
    stationCoverageRate: 0.4167, // mean of A 1/4, B 1/2, C 1/2 (D had nothing due)
    stationsDue: 3,
    stationsFullyCovered: 0,
    emergency: { scheduled: 1, due: 1, aired: 1, complianceRate: 1, onTimeRate: 1 },
    regular: { scheduled: 8, due: 7, aired: 3, late: 1, missed: 3, complianceRate: 0.5714, onTimeRate: 0.4286 },
    uptimeRate: 0.25, // mean of A 6 h of 12 in service, B 6 h of 24, C 0 of 24; D not in service
  });
  const line = (id: string) =>
    (r.body.groups as { key: string }[]).find((g) => g.key === stations.find((s) => s.id === id)?.code) as Record<string, unknown>;
  matchExact(t, line(A), { coverageRate: 0.25, stationCoverageRate: 0.25, complianceRate: 0.25, uptimeRate: 0.5 }, 'A: 1 of 4');
  matchExact(t, line(B), { coverageRate: 0.5, onTimeRate: 1, complianceRate: 1, uptimeRate: 0.25 });
  matchExact(t, line(C), { coverageRate: 0.5, complianceRate: 1, onTimeRate: 0.5, uptimeRate: 0 });
  matchExact(t, line(D), { coverageRate: null, complianceRate: null, stationsDue: 0, uptimeRate: null }, 'D: nothing due, not in service');
});

t.test('health counts from entry into service: a station installed 15 minutes ago is not 7 days offline', async (t) => {
  await server.db.station.update({ where: { id: D }, data: { installedAt: new Date(clock.now() - 15 * 60_000) } });
  const code = stations[3]?.code;
  const h = await api(server, 'GET', `/stations/${code}/health`);
  matchExact(t, h.body, {
    inServiceSince: new Date(clock.now() - 15 * 60_000).toISOString(),
    uptimeRate: 0,
    offlineMs: 15 * 60_000,
    history: [{ online: false, durationMs: 15 * 60_000, ongoing: true }],
  });
  const never = await api(
    server,
    'GET',
    `/stations/${(await server.db.station.findFirstOrThrow({ where: { code: 'HN-00001' } })).code}/health`,
  );
  matchExact(t, never.body, { inServiceSince: null, uptimeRate: null, offlineMs: 0, history: [] }, 'never installed: no history');
});

t.test('a year, a month and cut days: the rollup (ReportDay) and the occurrences agree, and the rates over time', async (t) => {
  const year = await api(server, 'GET', '/compliance/report?from=2025-12-01&to=2026-12-01&unit=016');
  t.equal(year.status, 200, 'a year is one request');
  matchExact(t, year.body.total, { scheduled: 9, aired: 4, late: 1, missed: 3, skipped: 1, complianceRate: 0.625, coverageRate: 0.375 });
  matchExact(t, year.body.series, [
    {
      period: '2026-11',
      bucket: 'month',
      scheduled: 9,
      due: 8,
      aired: 4,
      late: 1,
      missed: 3,
      skipped: 1,
      complianceRate: 0.625,
      coverageRate: 0.375,
    },
  ]);
  const month = await api(server, 'GET', '/compliance/report?from=2026-11-01&to=2026-12-01&unit=016');
  t.same(
    (month.body.series as { period: string; due: number }[]).map((p) => [p.period, p.due]),
    [['2026-11-20', 8]],
    'by day within two months',
  );
  t.match(await api(server, 'GET', '/compliance/report?from=2025-11-01&to=2026-12-01&unit=016'), {
    status: 400,
    body: { error: { code: 'RANGE_TOO_LONG' } },
  });
  // Ranges that cut Hanoi days are read from the occurrences at their ends: the counts are the as-run log's.
  for (const [a, b] of [
    ['2026-11-19T12:00', '2026-11-20T08:00'],
    ['2026-11-20T06:30', '2026-11-22T00:00'],
    ['2026-11-20T07:00', '2026-11-20T19:00'],
  ]) {
    const q = `from=${a}&to=${b}&unit=016`;
    const report = (await api(server, 'GET', `/compliance/report?${q}`)).body.total as Record<string, number>;
    const log = (await api(server, 'GET', `/as-run?${q}`)).body.totals as Record<string, number>;
    t.same(Object.fromEntries(Object.keys(log).map((k) => [k, report[k]])), log, `${a} – ${b}`);
  }
  // The rollup follows every write to the occurrences: a verdict changed, an airing removed, then put back.
  const before = (await api(server, 'GET', `/compliance/report?${range}`)).body.total as Record<string, number>;
  const missed = await server.db.occurrence.findFirstOrThrow({ where: { stationId: A, asRun: 'missed' } });
  await server.db.occurrence.update({ where: { id: missed.id }, data: { asRun: 'aired', playedMs: 60_000, lateMs: 0 } });
  matchExact(t, (await api(server, 'GET', `/compliance/report?${range}`)).body.total, {
    aired: before.aired + 1,
    missed: before.missed - 1,
    airedMinutes: before.airedMinutes + 1,
  });
  await server.db.occurrence.update({
    where: { id: missed.id },
    data: { asRun: 'missed', playedMs: missed.playedMs, lateMs: missed.lateMs },
  });
  await server.db.occurrence.delete({ where: { id: missed.id } });
  matchExact(t, (await api(server, 'GET', `/compliance/report?${range}`)).body.total, { scheduled: 8, missed: before.missed - 1 });
  await server.db.occurrence.create({ data: missed });
  t.same((await api(server, 'GET', `/compliance/report?${range}`)).body.total, before, 'back as it was');
  const rows = await server.db.$queryRawUnsafe<{ n: bigint }[]>('SELECT count(*) AS n FROM "ReportDay" WHERE "n" <= 0');
  t.equal(Number(rows[0]?.n), 0, 'no empty rows left behind');
});

t.test('times as people type them: an unencoded +07:00, a plain date, a local time', async (t) => {
  const want = (await api(server, 'GET', `/compliance/report?${range}`)).body.total;
  for (const q of [
    'from=2026-11-20T00:00:00+07:00&to=2026-11-21T00:00:00+07:00',
    'from=2026-11-20&to=2026-11-21',
    'from=2026-11-20T00:00&to=2026-11-21T00:00',
  ]) {
    const r = await api(server, 'GET', `/compliance/report?${q}&unit=016`);
    t.equal(r.status, 200, q);
    t.same(r.body.total, want, q);
  }
  t.match(await api(server, 'GET', '/compliance/report?from=yesterday&to=2026-11-21'), {
    status: 400,
    body: { error: { code: 'VALIDATION_FAILED' } },
  });
});

t.test('the as-run log as CSV: every airing with its status and reason, in Hanoi time', async (t) => {
  const res = await fetch(`${server.url}/api/v1/as-run?${range}&format=csv`, { headers: server.auth });
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /^text\/csv/);
  const lines = (await res.text())
    .replace(/^\uFEFF/, '')
    .trim()
    .split('\n');
  t.equal(lines.length, 1 + 9, 'a header and the 9 airings');
  t.match(lines[0], /Lý do \(reason\)/);
  t.match(lines[2], /2026-11-20 07:00,.*Không phát,missed,Trạm mất kết nối,offline/, 'A’s second airing: missed, offline, at 07:00 Hanoi');
  t.match(lines.at(-1), /Bỏ qua,skipped,"Trái quy định/);
});

t.test('the XLSX names the unit and gives the period in Hanoi time', async (t) => {
  const res = await fetch(`${server.url}/api/v1/compliance/report?${range}&format=xlsx`, { headers: server.auth });
  const book = new ExcelJS.Workbook();
  await book.xlsx.load(Buffer.from(await res.arrayBuffer()) as unknown as ArrayBuffer);
  const sheet = book.worksheets[0];
  if (!sheet) throw new Error('no sheet');
  const [title, period] = (sheet.getRow(1).values as string[]).slice(1);
  t.match(title, /Huyện Sóc Sơn \(016\)/);
  t.equal(period, '2026-11-20 00:00 – 2026-11-21 00:00 (giờ Hà Nội)');
});

t.test(
  'the PDF, read back by pdftotext: unit names, totals, every airing not aired with its reason, who made it, the signatories',
  { skip: pdftotext ? false : 'pdftotext (Debian poppler-utils) is not installed' },
  async (t) => {
    const res = await fetch(`${server.url}/api/v1/compliance/report?${range}&groupBy=station&format=pdf`, { headers: server.auth });
    t.equal(res.status, 200);
    t.equal(res.headers.get('content-type'), 'application/pdf');
    t.match(res.headers.get('content-disposition'), /bao-cao-016-.*\.pdf/);
    const file = join(server.dataDir, 'report.pdf');
    writeFileSync(file, Buffer.from(await res.arrayBuffer()));
    const fonts = execFileSync('pdffonts', [file], { encoding: 'utf8' });
    t.match(fonts, /DejaVuSans\s.*yes\s+yes/, 'the font is embedded (subset)');
    const text = execFileSync(pdftotext as string, ['-layout', file, '-'], { encoding: 'utf8' });
    t.match(text, /BÁO CÁO KẾT QUẢ PHÁT THANH CƠ SỞ/);
    t.match(text, /Đơn vị: Huyện Sóc Sơn \(016\)/, 'the unit by its Vietnamese name');
    t.match(text, /Kỳ báo cáo: 2026-11-20 00:00 – 2026-11-21 00:00 \(giờ Hà Nội\)/);
    t.match(text, /Người lập: admin · lập lúc 2026-11-22 00:00 \(giờ Hà Nội\)/, 'who and when, on the server clock');
    t.match(text, /Tổng cộng: 9 lượt theo lịch, 8 lượt đến hạn tại 4 đài; phát đủ 62\.5 %; đúng giờ 50\.0 %; đúng giờ ±2 giây 37\.5 %/);
    t.match(text, /Khẩn cấp: 1\/1 lượt phát đủ \(100\.0 %\)\. Thường xuyên: 4\/7 \(57\.1 %\)/);
    for (const s of stations) t.match(text, new RegExp(`${s.name} \\(${s.code}\\)`), `${s.code} has its line`);
    t.match(
      text,
      /Tổng cộng\s+9\s+4\s+1\s+0\s+3\s+1\s+62\.5 %\s+50\.0 %\s+37\.5 %\s+25\.0 %/,
      'the total line: the same figures as the JSON',
    );
    t.match(text, /Lượt không phát đủ và lý do \(4\)/);
    t.equal(text.match(/Không phát · Trạm mất kết nối/g)?.length, 2, 'two missed airings, offline');
    t.match(text, /09:00 · Đài Sóc Sơn \(HN-00376\) · Bản tin sáng · Không phát · Lỗi thiết bị/, 'and one device fault');
    t.match(text, /Bỏ qua · Trái quy định/);
    t.match(text, /NGƯỜI LẬP BIỂU\s+THỦ TRƯỞNG ĐƠN VỊ/);
    t.match(text, /Hà Nội, ngày 22 tháng 11 năm 2026/);
    t.match(text, /Trang 1\/\d/);
  },
);

t.test('minutes against the daily limit: station-days over it, the most minutes in a day, emergencies exempt', async (t) => {
  const unitOf = async (id: string) =>
    (await server.db.station.findUniqueOrThrow({ where: { id }, select: { unit: { select: { code: true } } } })).unit.code;
  // A's commune: nothing but emergencies (0 minutes a day); B's: one session of one minute.
  t.equal((await api(server, 'PUT', `/units/${await unitOf(A)}/policy`, { maxSessionsPerDay: 0, maxSessionMinutes: 15 })).status, 200);
  t.equal((await api(server, 'PUT', `/units/${await unitOf(B)}/policy`, { maxSessionsPerDay: 1, maxSessionMinutes: 1 })).status, 200);
  const r = await api(server, 'GET', `/compliance/report?${range}&groupBy=station`);
  const line = (id: string) => (r.body.groups as { key: string }[]).find((g) => g.key === stations.find((s) => s.id === id)?.code);
  // A aired one regular airing of 2 s: over its 0 minutes. B aired 2 × 2 s: under its minute. C's aired airing is an emergency.
  matchExact(t, line(A), { limitMinutesPerDay: 0, overLimitDays: 1, maxDayMinutes: 0.03 });
  matchExact(t, line(B), { limitMinutesPerDay: 1, overLimitDays: 0, maxDayMinutes: 0.07 });
  matchExact(t, line(C), { limitMinutesPerDay: null, overLimitDays: 0 });
  matchExact(t, r.body.total, { limitMinutesPerDay: null, overLimitDays: 1, maxDayMinutes: 0.07 }, 'mixed limits: none for the whole');
});
