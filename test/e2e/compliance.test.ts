// Compliance end to end: simulated gateways (real protocol, real broker and server) on a fake clock, one
// per behaviour — on time, late, preempted, silent, down — and the as-run log and report say exactly what
// happened, the one that never reported included.
import { join } from 'node:path';
import t from 'tap';
import { Simulator } from '../../edge-agent/simulator.ts';
import { AS_RUN_RULES } from '../../server/compliance/as-run.ts';
import { makeTone } from '../helpers/audio.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
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
  const stations = cases.map((c) => c.station);
  const tokens: string[] = [];
  for (const code of stations) tokens.push(await provisionDevice(server, code));
  const sim = new Simulator({ serverUrl: server.url, mqttUrl: server.mqttUrl, clock, fetch });
  t.teardown(() => sim.stop());
  await sim.start(tokens, 6, (i) => cases[i]?.behaviour ?? {});

  const at = clock.now() + 60_000;
  const occurrences = new Map<string, string>();
  for (const code of stations) occurrences.set(await scheduleItem(server, media.id, code, at), code);
  await untilAcked(
    server,
    async () => (await server.db.manifestDelivery.count({ where: { status: 'pending', device: { in: stations } } })) === 0,
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
    scheduled: 6,
    aired: 2,
    late: 1,
    partial: 1,
    missed: 2,
    skipped: 0,
    stations: 6,
    complianceRate: 0.5,
    onTimeRate: 0.3333,
  });
});
