// `npm run bench -- compliance`: proof ingest (bench/proof-ingest.ts) and the city's month and year reports.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { startTestServer } from '../test/helpers/server.ts';
import { proofIngest } from './proof-ingest.ts';
import { figure, median } from './report.ts';

export async function run(): Promise<void> {
  await proofIngest();
  await reportMonthCity();
}

// report_month_city_ms and report_year_city_ms: a generated year of airings for every Hanoi station (579 × 10 a day × 365 ≈ 2.1 M
// occurrences, verdicts stored as the ingest and the sweep store them), then the month report of the
// whole city by district through the HTTP API, as the provincial office asks for it, and the whole year.
const ITEMS_PER_DAY = 10;
const DAYS = 365;

export async function reportMonthCity(): Promise<void> {
  const server = await startTestServer({ env: { LP_SEED_POLICY: 'hanoi-2021' } });
  try {
    const stations = await server.db.station.findMany({ select: { id: true, unitId: true }, orderBy: { code: 'asc' } });
    const media = Array.from({ length: ITEMS_PER_DAY }, (_, i) => ({
      id: `bench-media-${i}`,
      title: `Bản tin ${i + 1}`,
      sha256: createHash('sha256').update(`bench-${i}`).digest('hex'),
      durationMs: 180_000,
      sizeBytes: 700_000,
      codec: 'opus',
      sampleRate: 48_000,
      channels: 1,
      sourceName: 'bench.wav',
      sourceFormat: 'wav',
      status: 'approved',
    }));
    await server.db.media.createMany({ data: media });
    const schedule = await server.db.schedule.create({ data: { mediaId: media[0]?.id, startsAt: new Date('2025-12-01T00:00:00Z') } });
    const t0 = performance.now();
    const ids = media.map((m) => m.id);
    const rows =
      server.database.dialect === 'postgres'
        ? await generateYearPg(server.database.url, schedule.id, ids)
        : generateYear(join(server.dataDir, 'loaphuong.db'), schedule.id, ids);
    const generateS = (performance.now() - t0) / 1000;

    const hanoi = (await server.db.unit.findFirstOrThrow({ where: { level: 1, code: '01' } })).code;
    const q = new URLSearchParams({ from: '2026-10-01T00:00:00+07:00', to: '2026-11-01T00:00:00+07:00', unit: hanoi, groupBy: 'unit' });
    const times: number[] = [];
    let report: { total: { scheduled: number }; groups: unknown[] } | undefined;
    for (let i = 0; i < 7; i++) {
      const t = performance.now();
      const res = await fetch(`${server.url}/api/v1/compliance/report?${q}`, { headers: server.auth });
      report = (await res.json()) as typeof report;
      times.push(performance.now() - t);
      if (res.status !== 200) throw new Error(`report failed: ${res.status} ${JSON.stringify(report)}`);
    }
    const expected = stations.length * ITEMS_PER_DAY * 31;
    if (report?.total.scheduled !== expected)
      throw new Error(`the report counted ${report?.total.scheduled} airings, expected ${expected}`);
    figure('compliance', 'report_month_city_ms', median(times), 'ms', {
      first_ms: Math.round(times[0] ?? 0),
      occurrences: rows,
      month_airings: expected,
      districts: report.groups.length,
      generate_s: Math.round(generateS),
      min_ms: Math.round(Math.min(...times)),
      index: 'Occurrence(day, unitId, stationId, asRun, priority, playedMs, lateMs): covering, in GROUP BY order',
      database: server.database.dialect,
    });
    // The year of all Hanoi by district, as the provincial office's annual report asks for it.
    const yq = new URLSearchParams({ from: '2025-12-01', to: '2026-12-01', unit: hanoi, groupBy: 'unit' });
    const yearTimes: number[] = [];
    let year: { total: { scheduled: number }; series: unknown[] } | undefined;
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      const res = await fetch(`${server.url}/api/v1/compliance/report?${yq}`, { headers: server.auth });
      year = (await res.json()) as typeof year;
      yearTimes.push(performance.now() - t);
      if (res.status !== 200) throw new Error(`year report failed: ${res.status} ${JSON.stringify(year)}`);
    }
    if (year?.total.scheduled !== rows) throw new Error(`the year report counted ${year?.total.scheduled} airings, expected ${rows}`);
    figure('compliance', 'report_year_city_ms', median(yearTimes), 'ms', {
      first_ms: Math.round(yearTimes[0] ?? 0),
      min_ms: Math.round(Math.min(...yearTimes)),
      airings: rows,
      months: year.series.length,
      goal: 1000,
      source: 'ReportDay rollup (day, unit at airtime, station, status, class), kept by triggers',
      database: server.database.dialect,
    });
  } finally {
    await server.stop();
  }
}

/**
 * Writes the year straight into SQLite with one INSERT … SELECT (the bench is about reading), indexes
 * dropped during the load and rebuilt after, as a bulk import would. A fixed mix: 93 % aired, 2 % late,
 * 2 % partial, 2 % missed, 1 % skipped; two sessions a day (five items from 06:00 and from 17:00, Hanoi).
 */
function generateYear(file: string, scheduleId: string, mediaIds: string[]): number {
  const db = new Database(file, { timeout: 15_000 });
  const indexes = db
    .prepare(`SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'Occurrence' AND sql IS NOT NULL`)
    .all() as { name: string; sql: string }[];
  for (const i of indexes) db.exec(`DROP INDEX "${i.name}"`);
  const at = (expr: string, shift: string) => `strftime('%Y-%m-%dT%H:%M:%f+00:00', ${expr}, ${shift})`;
  const inserted = db
    .prepare(
      `INSERT INTO "Occurrence" ("id","scheduleId","stationId","unitId","zones","mediaId","startsAt","day","closesAt","priority","status",
        "startedAt","endedAt","playedMs","asRun","discrepancy","lateMs","createdAt")
      WITH RECURSIVE d(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM d WHERE n < ${DAYS - 1}),
        i(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM i WHERE k < ${ITEMS_PER_DAY - 1}),
        a AS (SELECT d.n, i.k, s."id" AS sid, s."unitId" AS uid, s.rowid AS r,
                ${at(`'2025-11-30T17:00:00'`, `'+' || d.n || ' days', '+' || (CASE WHEN i.k < 5 THEN 360 + 3 * i.k ELSE 1020 + 3 * (i.k - 5) END) || ' minutes'`)} AS t,
                ((d.n * ${ITEMS_PER_DAY} + i.k) * 600 + s.rowid) * 7919 % 100 AS v
              FROM d, i, "Station" s),
        b AS (SELECT *, CASE WHEN v < 93 THEN 'aired' WHEN v < 95 THEN 'late' WHEN v < 97 THEN 'partial' WHEN v < 99 THEN 'missed' ELSE 'skipped' END AS verdict FROM a)
      SELECT 'bench-' || n || '-' || k || '-' || r, ?, sid, uid, '[]', json_extract(?, '$[' || k || ']'), t,
        CAST(julianday(t, '+7 hours') - 2440587.5 AS INTEGER), ${at('t', `'+780 seconds'`)}, 'normal',
        CASE verdict WHEN 'missed' THEN 'scheduled' WHEN 'skipped' THEN 'failed' WHEN 'partial' THEN 'partial' ELSE 'aired' END,
        CASE WHEN verdict IN ('missed', 'skipped') THEN NULL ELSE ${at('t', `CASE verdict WHEN 'late' THEN '+5 seconds' ELSE '+0.3 seconds' END`)} END,
        CASE WHEN verdict IN ('missed', 'skipped') THEN NULL ELSE ${at('t', `'+185 seconds'`)} END,
        CASE verdict WHEN 'aired' THEN 180000 WHEN 'late' THEN 180000 WHEN 'partial' THEN 60000 END,
        verdict, CASE verdict WHEN 'missed' THEN 'offline' WHEN 'skipped' THEN 'preempted' END,
        CASE verdict WHEN 'late' THEN 5000 WHEN 'aired' THEN 300 END, '2025-11-01T00:00:00.000+00:00'
      FROM b ORDER BY t`,
    )
    .run(scheduleId, JSON.stringify(mediaIds)).changes;
  for (const i of indexes) db.exec(i.sql);
  // No ANALYZE: the server never runs one, so the report is measured on the query plans it really gets.
  db.close();
  return inserted;
}

/** The same year on PostgreSQL (`LP_TEST_PG_URL=… npm run bench -- compliance`): one INSERT … SELECT, the same mix. */
async function generateYearPg(url: string, scheduleId: string, mediaIds: string[]): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const minutes = `(CASE WHEN i.k < 5 THEN 360 + 3 * i.k ELSE 1020 + 3 * (i.k - 5) END)`;
    const r = await c.query(
      `INSERT INTO "Occurrence" ("id","scheduleId","stationId","unitId","zones","mediaId","startsAt","day","closesAt","priority","status",
        "startedAt","endedAt","playedMs","asRun","discrepancy","lateMs","createdAt")
      WITH s AS (SELECT "id", "unitId", row_number() OVER (ORDER BY "code") AS r FROM "Station"),
        a AS (SELECT d.n, i.k, s."id" AS sid, s."unitId" AS uid, s.r,
                timestamp '2025-11-30 17:00:00' + d.n * interval '1 day' + ${minutes} * interval '1 minute' AS t,
                ((d.n * ${ITEMS_PER_DAY} + i.k) * 600 + s.r) * 7919 % 100 AS v
              FROM generate_series(0, ${DAYS - 1}) AS d(n), generate_series(0, ${ITEMS_PER_DAY - 1}) AS i(k), s),
        b AS (SELECT *, CASE WHEN v < 93 THEN 'aired' WHEN v < 95 THEN 'late' WHEN v < 97 THEN 'partial' WHEN v < 99 THEN 'missed' ELSE 'skipped' END AS verdict FROM a)
      SELECT 'bench-' || n || '-' || k || '-' || r, $1, sid, uid, '[]', $2::jsonb ->> k, t,
        floor(extract(epoch FROM t + interval '7 hours') / 86400)::int, t + interval '780 seconds', 'normal',
        CASE verdict WHEN 'missed' THEN 'scheduled' WHEN 'skipped' THEN 'failed' WHEN 'partial' THEN 'partial' ELSE 'aired' END,
        CASE WHEN verdict IN ('missed', 'skipped') THEN NULL ELSE t + CASE verdict WHEN 'late' THEN interval '5 seconds' ELSE interval '0.3 seconds' END END,
        CASE WHEN verdict IN ('missed', 'skipped') THEN NULL ELSE t + interval '185 seconds' END,
        CASE verdict WHEN 'aired' THEN 180000 WHEN 'late' THEN 180000 WHEN 'partial' THEN 60000 END,
        verdict, CASE verdict WHEN 'missed' THEN 'offline' WHEN 'skipped' THEN 'preempted' END,
        CASE verdict WHEN 'late' THEN 5000 WHEN 'aired' THEN 300 END, timestamp '2025-11-01 00:00:00'
      FROM b ORDER BY t`,
      [scheduleId, JSON.stringify(mediaIds)],
    );
    // The planner's statistics after a bulk load, as autovacuum would gather them shortly after.
    await c.query('ANALYZE "Occurrence"');
    await c.query('ANALYZE "ReportDay"');
    return r.rowCount ?? 0;
  } finally {
    await c.end();
  }
}
