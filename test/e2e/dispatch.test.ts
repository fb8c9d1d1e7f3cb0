// A change reaching hundreds of simulated gateways over the real broker: every manifest acknowledged
// and recorded as delivered, only touched stations recompiled, a reconnecting gateway catching up, and
// proof of play from each at airtime.
import { join } from 'node:path';
import t from 'tap';
import { type SimEvent, Simulator } from '../../edge-agent/simulator.ts';
import { makeTone } from '../helpers/audio.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { matchExact } from '../helpers/match.ts';
import { provisionDevice, relogin, startTestServer, untilAcked, uploadApproved } from '../helpers/server.ts';

const GATEWAYS = 300;
const clock = new FakeClock(Date.parse('2026-11-22T17:00:00Z'));
const server = await startTestServer({ now: clock.date, env: { LP_SEED_POLICY: 'hanoi-2021' } });
t.teardown(() => server.stop());
const { body: media } = await uploadApproved(server, makeTone(join(server.dataDir, 'dispatch.wav'), { seconds: 1 }));

const stations = (await server.db.station.findMany({ select: { code: true }, orderBy: { code: 'asc' }, take: GATEWAYS })).map(
  (s) => s.code,
);
const tokens: string[] = [];
for (const code of stations) tokens.push(await provisionDevice(server, code));
const sim = new Simulator({ serverUrl: server.url, mqttUrl: server.mqttUrl, clock, fetch });
t.teardown(() => sim.stop());
await sim.start(tokens, 50);
// Each enrollment sent that gateway its (empty) plan as version 1: wait until all are acknowledged.
await untilAcked(
  server,
  async () => (await server.db.manifestDelivery.count({ where: { status: 'pending', device: { in: stations } } })) === 0,
);

const json = { ...server.auth, 'content-type': 'application/json' };
/** Schedules the item as an emergency (exempt from Hanoi's policy) on the targets; answers the HTTP status. */
const emergencyAt = async (targets: { units?: string[]; stations?: string[] }, startsAt: Date) =>
  (
    await fetch(`${server.url}/api/v1/schedules`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ mediaId: media.id, targets, startsAt: startsAt.toISOString(), priority: 'emergency' }),
    })
  ).status;
const deliveries = async (query: string) =>
  (await (await fetch(`${server.url}/api/v1/deliveries?${query}`, { headers: server.auth })).json()) as {
    total: number;
    byStatus: Record<string, number>;
    items: { station: string; device: string; version: number; status: string; ackedAt: string | null }[];
  };
/** Resolves when `n` acks newer than `since` were recorded by the server. */
const acks = (n: number) =>
  new Promise<void>((resolve) => {
    let seen = 0;
    const on = () => {
      if (++seen === n) {
        server.dispatch.events.off('ack', on);
        resolve();
      }
    };
    server.dispatch.events.on('ack', on);
  });

t.test(`an emergency for all of Hanoi reaches ${GATEWAYS} simulated gateways, every ack recorded`, async (t) => {
  const acked = acks(GATEWAYS);
  const startsAt = new Date(clock.now() + 3600_000);
  t.equal(await emergencyAt({ units: ['01'] }, startsAt), 201);
  await acked;
  const d = await deliveries('limit=1000');
  t.equal(d.byStatus.delivered, 2 * GATEWAYS, 'every simulated gateway acknowledged its first plan and the change');
  t.equal(d.byStatus.pending, 579 - GATEWAYS, 'stations without a gateway wait, pending');
  const change = d.items.filter((x) => x.status === 'delivered' && x.version === 2);
  t.same(change.map((x) => x.device).sort(), stations, 'one delivery of the change per gateway');
  t.ok(change.every((x) => x.ackedAt));
  t.ok(sim.gateways.every((g) => g.manifest?.entries.length === 1 && g.manifest.entries[0].priority === 'emergency'));

  // Airtime: each gateway's null player confirms.
  const reports: SimEvent[] = [];
  const off = sim.onEvent((e) => e.type === 'reported' && e.kind === 'playback.completed' && reports.push(e));
  let stored = 0;
  const allStored = new Promise<void>((resolve) => {
    const on = (outcome: string, kind: string) => {
      if (outcome === 'stored' && kind === 'playback.completed' && ++stored === GATEWAYS) resolve();
    };
    server.reports.events.on('handled', on);
  });
  clock.advanceTo(startsAt.getTime() + 2000);
  await allStored;
  off();
  t.equal(reports.length, GATEWAYS);
  t.equal(await server.db.occurrence.count({ where: { status: 'aired' } }), GATEWAYS);
});

t.test('a change to one station recompiles that station only; a reconnecting gateway catches up', async (t) => {
  const before = await server.db.manifestDelivery.count();
  const gw = sim.gateways.find((g) => g.id === 'HN-00376') ?? sim.gateways[GATEWAYS - 1];
  const acked = acks(1);
  t.equal(await emergencyAt({ stations: [gw.id] }, new Date(clock.now() + 3600_000)), 201);
  await acked;
  t.equal((await server.db.manifestDelivery.count()) - before, 1, 'one manifest published, not 579');
  const mine = await deliveries(`station=${gw.id}`);
  t.same(
    mine.items.map((x) => [x.version, x.status]),
    [
      [3, 'delivered'],
      [2, 'delivered'],
      [1, 'delivered'],
    ],
  );

  // Offline while a change is made: it stays pending, and the retained manifest arrives at reconnect.
  await gw.stop();
  t.equal(await emergencyAt({ stations: [gw.id] }, new Date(clock.now() + 7200_000)), 201);
  matchExact(t, await deliveries(`station=${gw.id}&status=pending`), { total: 1, items: [{ version: 4 }] });
  const caughtUp = acks(1);
  await gw.connect();
  await caughtUp;
  t.match(await deliveries(`station=${gw.id}`), { byStatus: { delivered: 4 } });
  t.equal(gw.manifest?.version, 4);
  t.equal(gw.manifest?.entries.length, 2, 'what aired is gone; both new items are there');

  // A gateway revoked: its station's plan is recompiled without it.
  t.equal((await fetch(`${server.url}/api/v1/devices/${gw.id}/revoke`, { method: 'POST', headers: server.auth })).status, 204);
  matchExact(t, await deliveries(`station=${gw.id}&status=pending`), { total: 1, items: [{ device: gw.id, version: 5 }] });
});

t.test('changes to one station at the same moment: each manifest gets a version of its own, the gateway ends on the last', async (t) => {
  const gw = sim.gateways[1] as (typeof sim.gateways)[number];
  const station = await server.db.station.findUniqueOrThrow({ where: { code: gw.id } });
  const { total } = await deliveries(`station=${gw.id}`);
  // Before, two at once both took the later version and the second's record failed on (device, version): the
  // request behind it answered 500.
  const results = await Promise.allSettled([1, 2, 3].map(() => server.dispatch.dispatch([station.id], { force: true })));
  t.same(
    results.map((r) => r.status),
    ['fulfilled', 'fulfilled', 'fulfilled'],
  );
  const after = await deliveries(`station=${gw.id}`);
  const versions = after.items.slice(0, 3).map((d) => d.version);
  t.equal(after.total, total + 3, 'three deliveries recorded');
  t.equal(new Set(versions).size, 3, `three versions: ${versions}`);
  const last = Math.max(...versions);
  await untilAcked(server, async () => (await deliveries(`station=${gw.id}&status=delivered`)).items[0]?.version === last);
  t.equal(gw.manifest?.version, last, 'the gateway holds the last one');
});

t.test('an unacknowledged manifest expires when its envelope does', async (t) => {
  clock.advance(9 * 86_400_000);
  await relogin(server); // the admin's session ended meanwhile
  const d = await deliveries('status=expired&limit=1');
  t.equal(d.total, 579 - GATEWAYS + 1, 'the stations that never had a gateway, and the one whose gateway was revoked');
  t.equal(d.byStatus.pending ?? 0, 0);
});
