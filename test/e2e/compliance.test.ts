// Compliance end to end: simulated gateways (real protocol, real broker and server) on a fake clock, one
// per behaviour — on time, late, preempted, silent, down — and the as-run log and report say exactly what
// happened, the one that never reported included.
import { join } from 'node:path';
import t from 'tap';
import { Simulator } from '../../edge-agent/simulator.ts';
import { AS_RUN_RULES } from '../../server/compliance/as-run.ts';
import { makeTone } from '../helpers/audio.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { matchExact } from '../helpers/match.ts';
import { provisionDevice, scheduleItem, startTestServer, untilAcked, uploadApproved } from '../helpers/server.ts';

const clock = new FakeClock(Date.now());
const server = await startTestServer({ now: clock.date });
t.teardown(() => server.stop());

t.test('each station behaviour yields exactly its as-run status, and the report adds them up', async (t) => {
  const { body: media } = await uploadApproved(server, makeTone(join(server.dataDir, 'bulletin.wav'), { seconds: 10 }));
  const durationMs = media.durationMs as number;
  // Sóc Sơn communes; behaviours by position.
  const cases = [
    { station: 'HN-00376', behaviour: {}, expect: { status: 'aired' } },
    { station: 'HN-00379', behaviour: {}, expect: { status: 'aired' } },
    { station: 'HN-00382', behaviour: { lateMs: 5000 }, expect: { status: 'late', lateMs: 5000 } },
    { station: 'HN-00385', behaviour: { cutAfterMs: 4000 }, expect: { status: 'partial', reason: 'preempted', deviceReason: 'PREEMPTED' } },
    { station: 'HN-00388', behaviour: { silent: true }, expect: { status: 'missed', reason: 'silent' } },
    { station: 'HN-00391', behaviour: { down: true }, expect: { status: 'missed', reason: 'offline' } },
  ];
  const simulated = cases.map((c) => c.station);
  const tokens: string[] = [];
  for (const code of simulated) tokens.push(await provisionDevice(server, code));
  // One more commune of the district whose gateway never comes up at all.
  const unreachable = (
    await server.db.station.findFirstOrThrow({
      where: { unit: { parent: { code: '016' } }, code: { notIn: simulated } },
      orderBy: { code: 'asc' },
    })
  ).code;
  cases.push({ station: unreachable, behaviour: { down: true }, expect: { status: 'missed', reason: 'offline' } });
  const stations = cases.map((c) => c.station); // the last one has no simulator: its behaviour is never used
  const sim = new Simulator({ serverUrl: server.url, mqttUrl: server.mqttUrl, clock, fetch });
  t.teardown(() => sim.stop());
  await sim.start(tokens, 6, (i) => cases[i]?.behaviour ?? {});

  const at = clock.now() + 60_000;
  const occurrences = new Map<string, string>();
  for (const code of stations) occurrences.set(await scheduleItem(server, media.id, code, at), code);
  await untilAcked(
    server,
    async () => (await server.db.manifestDelivery.count({ where: { status: 'pending', device: { in: simulated } } })) === 0,
  );
  // Five gateways report a start and an end: ten proofs.
  let stored = 0;
  const allStored = new Promise<void>((resolve) =>
    server.reports.events.on('handled', (outcome: string) => {
      if (outcome === 'stored' && ++stored === 10) resolve();
    }),
  );
  clock.advanceTo(at);
  clock.advanceTo(at + 5000);
  clock.advanceTo(at + 5000 + durationMs);
  await allStored;
  clock.advanceTo(at + durationMs + AS_RUN_RULES.proofGraceMs);

  const range = new URLSearchParams({ from: new Date(at - 3600_000).toISOString(), to: new Date(at + 3600_000).toISOString() });
  const asRun = (await (await fetch(`${server.url}/api/v1/as-run?${range}`, { headers: server.auth })).json()) as {
    items: { occurrenceId: string; station: string; status: string }[];
  };
  t.equal(asRun.items.length, cases.length);
  for (const row of asRun.items) {
    const c = cases.find((x) => x.station === row.station);
    t.match(row, c?.expect ?? {}, `${row.station}: ${JSON.stringify(c?.behaviour)}`);
    t.equal(occurrences.get(row.occurrenceId), row.station);
  }
  const report = (await (await fetch(`${server.url}/api/v1/compliance/report?${range}&unit=016`, { headers: server.auth })).json()) as {
    total: Record<string, unknown>;
  };
  t.match(report.total, {
    scheduled: 7,
    aired: 2,
    late: 1,
    partial: 1,
    missed: 3,
    skipped: 0,
    stations: 7,
    complianceRate: 0.4286,
    onTimeRate: 0.2857,
  });
  const get = async (path: string) => (await fetch(`${server.url}/api/v1${path}`, { headers: server.auth })).json();
  const byItem = (await get(`/compliance/report?${range}&groupBy=media`)) as { groups: Record<string, unknown>[] };
  matchExact(
    t,
    byItem.groups,
    [{ key: media.id, scheduled: 7, stations: 7, coverageRate: 0.2857 }],
    'two of seven stations aired the item within ±2 s',
  );

  // Alerts: the silent output, the gateway that was up but never played, the one that was never up.
  const alerts = (await get('/alerts?status=new')) as { total: number; items: { station: string; kind: string; count: number }[] };
  t.same(
    alerts.items.map((a) => `${a.station} ${a.kind} ${a.count}`).sort(),
    ['HN-00388 silent 1', 'HN-00391 missed 1', `${unreachable} offline 1`].sort(),
  );
  // Its station was installed two hours before (a station neither installed nor enrolled is not in service: no history).
  await server.db.station.update({ where: { code: unreachable }, data: { installedAt: new Date(at - 2 * 3600_000) } });
  const health = (await get(`/stations/${unreachable}/health?from=${encodeURIComponent(new Date(at - 3600_000).toISOString())}`)) as Record<
    string,
    unknown
  >;
  matchExact(t, health, { online: false, uptimeRate: 0, history: [{ online: false, ongoing: true }], openAlerts: [{ kind: 'offline' }] });
  const up = (await get('/stations/HN-00376/health')) as { online: boolean; history: { online: boolean }[]; uptimeRate: number };
  t.equal(up.online, true);
  t.equal(up.history.at(-1)?.online, true, 'online since its simulator connected');
  t.ok(up.uptimeRate > 0.9, `online ${up.uptimeRate} of the time since it enrolled (the days before are not offline)`);
});
