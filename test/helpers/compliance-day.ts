// One Hanoi day of airings at four communes of Sóc Sơn (district 016), with as-run verdicts written as the
// ingest writes them, and each station's service and availability: the scenario whose figures
// test/server/statistics.test.ts checks exactly and test/console/compliance.test.ts shows in a browser.
import { join } from 'node:path';
import { hanoiDayNumber } from '../../server/scheduling/recurrence.ts';
import { makeTone } from './audio.ts';
import { type TestServer, uploadApproved } from './server.ts';

const HOUR = 3600_000;

type Verdict = { asRun: string; lateMs?: number; priority?: string; discrepancy?: string };

export async function seedComplianceDay(server: TestServer, from: Date) {
  const { body: media } = await uploadApproved(server, makeTone(join(server.dataDir, 'stat.wav'), { seconds: 2 }), {
    title: 'Bản tin sáng',
  });
  const mediaId = media.id as string;
  const stations = await server.db.station.findMany({ where: { unit: { parent: { code: '016' } } }, orderBy: { code: 'asc' }, take: 4 });
  const [A, B, C, D] = stations.map((s) => s.id) as [string, string, string, string];
  const schedule = await server.db.schedule.create({ data: { mediaId, startsAt: from, stationCodes: '[]' } });
  const airings: [string, Verdict][] = [
    // A (the Nam Sơn case): 1 of 4 aired.
    [A, { asRun: 'aired', lateMs: 0 }],
    [A, { asRun: 'missed', discrepancy: 'offline' }],
    [A, { asRun: 'missed', discrepancy: 'offline' }],
    [A, { asRun: 'missed', discrepancy: 'device-fault' }],
    // B: both in full; one 1.5 s late (within ±2 s), one 5 s late inside its start window (on time, not covered).
    [B, { asRun: 'aired', lateMs: 1500 }],
    [B, { asRun: 'aired', lateMs: 5000 }],
    // C: an emergency aired; a regular item late.
    [C, { asRun: 'aired', lateMs: 0, priority: 'emergency' }],
    [C, { asRun: 'late', lateMs: 60_000 }],
    // D: skipped by rule, nothing due.
    [D, { asRun: 'skipped', discrepancy: 'policy' }],
  ];
  for (const [i, [stationId, v]] of airings.entries()) {
    const startsAt = new Date(from.getTime() + (6 + i) * HOUR);
    const st = stations.find((s) => s.id === stationId);
    await server.db.occurrence.create({
      data: {
        scheduleId: schedule.id,
        stationId,
        unitId: st?.unitId,
        mediaId,
        startsAt,
        day: hanoiDayNumber(startsAt),
        priority: v.priority ?? 'normal',
        status: v.asRun === 'skipped' ? 'skipped' : 'done',
        asRun: v.asRun,
        discrepancy: v.discrepancy,
        lateMs: v.lateMs,
        playedMs: ['aired', 'late'].includes(v.asRun) ? 2000 : 0,
        closesAt: new Date(startsAt.getTime() + 15 * 60_000),
      },
    });
  }
  // A installed at 12:00, enrolled at 06:00 (in service from 12:00), online 12:00–18:00; B enrolled the day
  // before, online until 06:00; C installed and enrolled before, never heard from; D never installed.
  const at = (h: number) => new Date(from.getTime() + h * HOUR);
  await server.db.station.update({ where: { id: A }, data: { installedAt: at(12) } });
  await server.db.station.update({ where: { id: C }, data: { installedAt: at(-30) } });
  for (const [stationId, enrolledAt] of [
    [A, at(6)],
    [B, at(-24)],
    [C, at(-30)],
  ] as const)
    await server.db.device.create({ data: { code: `GW-${stationId.slice(0, 8)}`, stationId, enrolledAt } });
  for (const [stationId, online, h] of [
    [A, true, 12],
    [A, false, 18],
    [B, true, -20],
    [B, false, 6],
  ] as const)
    await server.db.stationEvent.create({ data: { stationId, online, at: at(h), source: 'state' } });
  return { stations, ids: { A, B, C, D }, mediaId };
}
