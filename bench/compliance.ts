// proof_ingest_per_s: signed playback reports through the server's ingest (ReportService.handleReport:
// signature check with the device key, occurrence lookup, duplicate check, hash-chain link, one
// transaction per proof), 64 in flight, from pre-signed payloads (signing is the gateways' cost, not
// the server's). Fixture: 50 enrolled stations × 40 occurrences, a start and an end proof each.
// The MQTT hop is not included: the broker's own throughput is the dispatch bench's subject.
import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { type PlaybackReport, publicKeyHex, seal, wallClockSequence } from '#protocol';
import { sqlTime } from '../server/db/proof-ledger.ts';
import { makeTone } from '../test/helpers/audio.ts';
import { provisionDevice, scheduleItem, startTestServer, uploadApproved } from '../test/helpers/server.ts';
import { figure, median } from './report.ts';

const STATIONS = 50;
const PER_STATION = 40;

export async function run(): Promise<void> {
  await proofIngest();
  await reportMonthCity();
}

async function proofIngest(): Promise<void> {
  const server = await startTestServer();
  try {
    const { body: media } = await uploadApproved(server, makeTone(join(server.dataDir, 'bench-proof.wav'), { seconds: 1 }));
    const stations = (
      await server.db.station.findMany({ select: { id: true, code: true, unitId: true }, orderBy: { code: 'asc' }, take: STATIONS })
    ).map((s) => s);
    const start = Date.now() + 3600_000;
    const payloads: { device: string; payload: Buffer }[] = [];
    for (const st of stations) {
      const privateKey = generateKeyPairSync('ed25519').privateKey;
      const hex = publicKeyHex(createPublicKey(privateKey));
      const res = await fetch(`${server.url}/api/v1/gateway/enroll`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          token: await provisionDevice(server, st.code),
          publicKeyHex: hex,
          agentVersion: 'bench',
          protocolVersions: [1],
        }),
      });
      const { device } = (await res.json()) as { device: string };
      const first = await scheduleItem(server, media.id, st.code, start);
      const scheduleId = (await server.db.occurrence.findUniqueOrThrow({ where: { id: first }, select: { scheduleId: true } })).scheduleId;
      // The rest of the fixture straight into the database: the bench is about ingest, not scheduling.
      const ids = [first, ...Array.from({ length: PER_STATION - 1 }, () => crypto.randomUUID())];
      await server.db.occurrence.createMany({
        data: ids.slice(1).map((id, i) => ({
          id,
          scheduleId,
          stationId: st.id,
          unitId: st.unitId,
          mediaId: media.id as string,
          startsAt: new Date(start + (i + 1) * 60_000),
        })),
      });
      const signer = { kid: `dev:${hex.slice(0, 16)}`, privateKey, nextSeq: wallClockSequence(Date.now) };
      ids.forEach((occurrenceId, i) => {
        const at = new Date(start + i * 60_000).toISOString();
        const base = {
          station: st.code,
          occurrenceId,
          sha256: media.sha256 as string,
          scheduledAt: at,
          startedAt: at,
          expectedMs: media.durationMs as number,
        };
        const bodies: PlaybackReport[] = [
          { ...base, kind: 'playback.started' },
          { ...base, kind: 'playback.completed', endedAt: at, playedMs: media.durationMs as number, level: { rmsDbfs: -20, peakDbfs: -3 } },
        ];
        for (const body of bodies)
          payloads.push({
            device,
            payload: Buffer.from(JSON.stringify(seal('report', body, signer, { now: new Date(), ttlMs: 86_400_000 }))),
          });
      });
    }
    // Interleave stations, as proofs arrive from many gateways at once.
    payloads.sort((a, b) => a.payload.length - b.payload.length || a.device.localeCompare(b.device));
    const outcomes: Record<string, number> = {};
    const t0 = performance.now();
    // As the MQTT link does: every message handed over as it arrives, none waiting for the one before.
    await Promise.all(
      payloads.map(async (p) => {
        const outcome = await server.reports.handleReport(p.device, p.payload);
        outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    if (outcomes.stored !== payloads.length) throw new Error(`not every proof was stored: ${JSON.stringify(outcomes)}`);
    figure('compliance', 'proof_ingest_per_s', payloads.length / seconds, 'proofs/s', {
      proofs: payloads.length,
      stations: STATIONS,
      path: 'ReportService.handleReport (no MQTT hop)',
    });
  } finally {
    await server.stop();
  }
}

// report_month_city_ms: a generated year of airings for every Hanoi station (579 × 10 a day × 365 ≈ 2.1 M
// occurrences, verdicts stored as the ingest and the sweep store them), then the month report of the
// whole city by district through the HTTP API, as the provincial office asks for it.
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
    const rows = generateYear(join(server.dataDir, 'loaphuong.db'), schedule.id, stations, media);
    const generateS = (performance.now() - t0) / 1000;

    const hanoi = (await server.db.unit.findFirstOrThrow({ where: { level: 1, code: '01' } })).code;
    const q = new URLSearchParams({ from: '2026-10-01T00:00:00+07:00', to: '2026-11-01T00:00:00+07:00', unit: hanoi, groupBy: 'unit' });
    const times: number[] = [];
    let report: { total: { scheduled: number }; groups: unknown[] } | undefined;
    for (let i = 0; i < 5; i++) {
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
      index: 'Occurrence(startsAt, unitId, stationId, asRun, playedMs)',
    });
  } finally {
    await server.stop();
  }
}

/** Writes the year straight into SQLite (prepared statements, one transaction per day): the bench is about reading. */
function generateYear(file: string, scheduleId: string, stations: { id: string; unitId: string }[], media: { id: string }[]): number {
  const db = new Database(file, { timeout: 15_000 });
  const insert = db.prepare(`INSERT INTO "Occurrence" ("id","scheduleId","stationId","unitId","zones","mediaId","startsAt","closesAt",
    "priority","status","startedAt","endedAt","playedMs","asRun","discrepancy","lateMs","createdAt")
    VALUES (?,?,?,?,'[]',?,?,?,'normal',?,?,?,?,?,?,?,?)`);
  const first = Date.parse('2025-12-01T00:00:00+07:00');
  let n = 0;
  // A plausible mix: 93 % aired, 2 % late, 2 % partial, 2 % missed, 1 % skipped, from a fixed sequence.
  const verdicts = ['aired', 'late', 'partial', 'missed', 'skipped'];
  const verdictOf = (k: number) => verdicts[k % 100 < 93 ? 0 : k % 100 < 95 ? 1 : k % 100 < 97 ? 2 : k % 100 < 99 ? 3 : 4] as string;
  const day = db.transaction((d: number) => {
    for (let i = 0; i < ITEMS_PER_DAY; i++) {
      // Two sessions: five items from 06:00 and five from 17:00, Hanoi time.
      const startsAt = first + d * 86_400_000 + (i < 5 ? 6 * 3600_000 + i * 180_000 : 17 * 3600_000 + (i - 5) * 180_000);
      for (const st of stations) {
        const asRun = verdictOf(n * 7919);
        const lateMs = asRun === 'late' ? 5000 : asRun === 'aired' ? 300 : null;
        const played = asRun === 'aired' || asRun === 'late' ? 180_000 : asRun === 'partial' ? 60_000 : null;
        const started = played !== null ? startsAt + (lateMs ?? 0) : null;
        insert.run(
          `bench-occ-${n}`,
          scheduleId,
          st.id,
          st.unitId,
          media[i]?.id,
          sqlTime(new Date(startsAt)),
          sqlTime(new Date(startsAt + 780_000)),
          asRun === 'missed' ? 'scheduled' : asRun === 'skipped' ? 'failed' : asRun === 'partial' ? 'partial' : 'aired',
          started === null ? null : sqlTime(new Date(started)),
          started === null ? null : sqlTime(new Date(started + (played ?? 0))),
          played,
          asRun,
          asRun === 'missed' ? 'offline' : asRun === 'skipped' ? 'preempted' : null,
          lateMs,
          sqlTime(new Date(startsAt - 86_400_000)),
        );
        n++;
      }
    }
  });
  for (let d = 0; d < DAYS; d++) day(d);
  db.pragma('optimize');
  db.close();
  return n;
}
