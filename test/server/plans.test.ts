// Plans out and acks in, against the real server and SQLite: acks that arrive together are recorded
// together (one batch), each with the verdict it would have had alone; a plan never exceeds the
// protocol's limits ([P-7]), and a plan cut short is renewed before the gateway runs out of it.
import { generateKeyPairSync, type KeyObject, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import t from 'tap';
import { LIMITS, type ManifestAck, type ManifestEntry, publicKeyHex, seal } from '#protocol';
import { Simulator } from '../../edge-agent/simulator.ts';
import { cutToLimits } from '../../server/scheduling/plan-limits.ts';
import { deviceKid } from '../../server/services/device-service.ts';
import { makeTone } from '../helpers/audio.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { enrollDevice, provisionDevice, startTestServer, uploadApproved } from '../helpers/server.ts';

const server = await startTestServer();
t.teardown(() => server.stop());

let seq = 0;
const signed = (key: { privateKey: KeyObject; publicKey: KeyObject }, body: ManifestAck) => {
  const signer = { kid: deviceKid(publicKeyHex(key.publicKey)), privateKey: key.privateKey, nextSeq: () => ++seq };
  return Buffer.from(JSON.stringify(seal('manifest-ack', body, signer, { now: new Date(), ttlMs: 3600_000, id: randomUUID() })));
};
const delivery = (device: string, version: number) =>
  server.db.manifestDelivery.findUniqueOrThrow({ where: { device_version: { device, version } } });
/** Each enrollment publishes the station's plan: its delivery is pending until acked. */
const firstVersion = async (device: string) =>
  (await server.db.manifestDelivery.findFirstOrThrow({ where: { device }, orderBy: { version: 'desc' } })).version;

t.test('acks arriving together are recorded in one batch, each with its own verdict', async (t) => {
  const codes = (await server.db.station.findMany({ select: { code: true }, orderBy: { code: 'asc' }, take: 4 })).map((s) => s.code);
  const [a, b, c, d] = await Promise.all(codes.map((s) => enrollDevice(server, s)));
  const [va, vb, vc, vd] = await Promise.all([a, b, c, d].map((x) => firstVersion(x.device)));
  // C's plan changes: its first version is superseded before C acknowledges it.
  const cStation = await server.db.device.findUniqueOrThrow({ where: { code: c.device }, select: { stationId: true } });
  await server.dispatch.dispatch([cStation.stationId]);
  const vc2 = await firstVersion(c.device);
  t.ok(vc2 > vc);

  const events: { device: string; version: number; status: string }[] = [];
  const on = (e: { device: string; version: number; status: string }) => events.push(e);
  server.dispatch.events.on('ack', on);
  t.teardown(() => server.dispatch.events.off('ack', on));
  const rogue = { ...a.key, privateKey: b.key.privateKey };
  await Promise.all([
    server.dispatch.handleAck(a.device, signed(a.key, { station: codes[0], version: va, status: 'applied', entries: 0 })),
    server.dispatch.handleAck(b.device, signed(b.key, { station: codes[1], version: vb, status: 'rejected', code: 'HASH_MISMATCH' })),
    server.dispatch.handleAck(c.device, signed(c.key, { station: codes[2], version: vc, status: 'applied', entries: 0 })),
    // Signed with B's key on A's topic; D's ack names another station; a device nobody enrolled; garbage.
    server.dispatch.handleAck(a.device, signed(rogue, { station: codes[0], version: va + 1, status: 'applied', entries: 0 })),
    server.dispatch.handleAck(d.device, signed(d.key, { station: codes[0], version: vd, status: 'applied', entries: 0 })),
    server.dispatch.handleAck('HN-99999-1', signed(d.key, { station: codes[3], version: vd, status: 'applied', entries: 0 })),
    server.dispatch.handleAck(d.device, Buffer.from('{"not":"an envelope"')),
  ]);

  const da = await delivery(a.device, va);
  t.equal(da.status, 'delivered');
  t.ok(da.ackedAt);
  const db = await delivery(b.device, vb);
  t.equal(db.status, 'failed');
  t.equal(db.errorCode, 'HASH_MISMATCH');
  const dc = await delivery(c.device, vc);
  t.equal(dc.status, 'superseded', 'a late ack does not revive a superseded plan…');
  t.ok(dc.ackedAt, '…but its time is recorded');
  t.equal((await delivery(c.device, vc2)).status, 'pending', 'the plan that replaced it waits for its own ack');
  const dd = await delivery(d.device, vd);
  t.equal(dd.status, 'pending', 'an ack naming another station, a forged one or garbage moves nothing');
  t.equal(dd.ackedAt, null);
  t.same(
    events.map((e) => `${e.device}@${e.version}:${e.status}`).sort(),
    [`${a.device}@${va}:delivered`, `${b.device}@${vb}:failed`, `${c.device}@${vc}:delivered`].sort(),
    'one event per ack that verified',
  );
});

t.test('a batch of 600 applied acks (more than one statement holds) is recorded whole', async (t) => {
  // Two parameters per (device, version) pair: 500 pairs in one statement passed SQLite's 999 and the
  // whole batch was lost ("manifest acks not recorded") once a country's acks arrived together.
  const stations = await server.db.station.findMany({ select: { id: true, code: true }, orderBy: { code: 'asc' } });
  const at = new Date();
  const gateways = Array.from({ length: 600 }, (_, i) => {
    const station = stations[i % stations.length] as { id: string; code: string };
    return { code: `${station.code}-B${i}`, station, key: generateKeyPairSync('ed25519'), version: 9_000 + i };
  });
  await server.db.device.createMany({
    data: gateways.map((g) => ({ code: g.code, stationId: g.station.id, publicKeyHex: publicKeyHex(g.key.publicKey), enrolledAt: at })),
  });
  await server.db.manifestDelivery.createMany({
    data: gateways.map((g) => ({
      stationId: g.station.id,
      device: g.code,
      version: g.version,
      entries: 0,
      publishedAt: at,
      expiresAt: new Date(at.getTime() + 86_400_000),
    })),
  });
  let events = 0;
  const on = () => events++;
  server.dispatch.events.on('ack', on);
  t.teardown(() => server.dispatch.events.off('ack', on));
  await Promise.all(
    gateways.map((g) =>
      server.dispatch.handleAck(g.code, signed(g.key, { station: g.station.code, version: g.version, status: 'applied', entries: 0 })),
    ),
  );
  t.equal(
    await server.db.manifestDelivery.count({
      where: { device: { in: gateways.map((g) => g.code) }, status: 'delivered', ackedAt: { not: null } },
    }),
    600,
    'every delivery recorded',
  );
  t.equal(events, 600, 'one event per ack');
});

const entry = (startsAt: number, extra: Partial<ManifestEntry> = {}): ManifestEntry => ({
  occurrenceId: randomUUID(),
  startsAt: new Date(startsAt).toISOString(),
  priority: 'normal',
  media: { sha256: 'a'.repeat(64), path: `/blobs/${'a'.repeat(64)}`, durationMs: 1000, sizeBytes: 4000, codec: 'opus' },
  ...extra,
});
const T0 = Date.parse('2026-12-01T00:00:00Z');

t.test('a plan is cut at 500 entries, or sooner at the payload limit, and never cuts an alert', async (t) => {
  const many = Array.from({ length: 700 }, (_, i) => entry(T0 + i * 60_000));
  const cut = cutToLimits(many, 2000);
  t.equal(cut.entries.length, LIMITS.maxManifestEntries);
  t.equal(cut.cutAt?.toISOString(), many[500].startsAt, 'the horizon is the first entry left out');
  t.same(cutToLimits(many.slice(0, 500), 2000), { entries: many.slice(0, 500) }, 'a plan within the limits is whole');

  // Entries at the cut instant go with it: the plan is whole up to its horizon.
  const ties = [...many.slice(0, 499), entry(T0 + 499 * 60_000), entry(T0 + 499 * 60_000)];
  t.equal(cutToLimits(ties, 2000).entries.length, 499);

  // Long relay URLs: the bytes bind before the count does.
  const url = `https://stream.example.vn/${'x'.repeat(480)}`;
  const relays = many.map((e) => ({ ...e, relay: { urls: [url, url, url], slotMs: 1000, deadAirMs: 5000 } }));
  const byBytes = cutToLimits(relays, 2000);
  t.ok(byBytes.entries.length < 200, `${byBytes.entries.length} relay entries kept`);
  const bytes = 2000 + Buffer.byteLength(JSON.stringify(byBytes.entries));
  t.ok(bytes <= LIMITS.maxPayloadBytes - 1000, `${bytes} bytes of entries fit with room for the envelope`);

  // An alert far ahead stays, though ordinary items before it are left out.
  const alert = entry(T0 + 600 * 60_000, { priority: 'emergency', repeatCount: 1, validUntil: new Date(T0 + 86_400_000).toISOString() });
  const withAlert = cutToLimits([...many.slice(0, 600), alert, ...many.slice(600)], 2000);
  t.ok(withAlert.entries.includes(alert));
  t.equal(withAlert.entries.length, LIMITS.maxManifestEntries);
  t.equal(withAlert.cutAt?.toISOString(), many[499].startsAt);
});

t.test('a station with 1,008 airings in its horizon gets plans its gateway applies, renewed before they run out', async (t) => {
  const clock = new FakeClock(Date.parse('2026-11-22T17:00:00Z'));
  const busy = await startTestServer({ now: clock.date });
  t.teardown(() => busy.stop());
  const { body: media } = await uploadApproved(busy, makeTone(join(busy.dataDir, 'jingle.wav'), { seconds: 1 }));
  const [station] = (await busy.db.station.findMany({ select: { code: true }, orderBy: { code: 'asc' }, take: 1 })).map((s) => s.code);
  const sim = new Simulator({ serverUrl: busy.url, mqttUrl: busy.mqttUrl, clock, fetch });
  t.teardown(() => sim.stop());
  // It syncs and acks but plays nothing: this is about plans, and 250 jingles fall due when the clock jumps.
  await sim.start([await provisionDevice(busy, station)], 1, () => ({ down: true }));
  const [gw] = sim.gateways;
  const acked = (version: number) =>
    new Promise<{ status: string }>((resolve) => {
      const off = sim.onEvent((e) => {
        if (e.type === 'acked' && e.version >= version) {
          off();
          resolve(e);
        }
      });
    });

  // A jingle every 10 minutes, day and night: 144 a day, 1,008 in the 7-day horizon.
  const version = (await busy.db.station.findUniqueOrThrow({ where: { code: station } })).manifestVersion + 1;
  const first = acked(version);
  const res = await fetch(`${busy.url}/api/v1/schedules`, {
    method: 'POST',
    headers: { ...busy.auth, 'content-type': 'application/json' },
    body: JSON.stringify({
      mediaId: media.id,
      targets: { stations: [station] },
      startsAt: '2026-11-23T00:00:00+07:00',
      rrule: `FREQ=DAILY;BYHOUR=${Array.from({ length: 24 }, (_, h) => h).join(',')};BYMINUTE=0,10,20,30,40,50`,
    }),
  });
  t.equal(res.status, 201, 'the schedule is made');
  t.equal(await busy.db.occurrence.count({ where: { station: { code: station } } }), 1008);
  t.equal((await first).status, 'applied', 'the gateway applied the plan');
  const plan = gw.manifest;
  if (!plan) throw new Error('no plan');
  t.equal(plan.entries.length, 500);
  const airings = await busy.db.occurrence.findMany({ where: { station: { code: station } }, orderBy: { startsAt: 'asc' } });
  t.same(
    plan.entries.map((e) => e.occurrenceId),
    airings.slice(0, 500).map((o) => o.id),
  );
  t.equal(plan.horizonUntil, airings[500].startsAt.toISOString(), 'the plan says it ends at the first airing left out');
  const row = await busy.db.station.findUniqueOrThrow({ where: { code: station } });
  const halfway = clock.now() + (Date.parse(plan.horizonUntil) - clock.now()) / 2;
  t.equal(row.planRefreshAt?.getTime(), halfway, 'renewed half-way through what it covers');

  t.equal(await busy.dispatch.renewCutPlans(), 0, 'nothing is renewed before then');
  clock.advance(halfway + 1000 - clock.now());
  const next = acked(row.manifestVersion + 1);
  t.equal(await busy.dispatch.renewCutPlans(), 1);
  t.equal((await next).status, 'applied');
  const renewed = gw.manifest;
  if (!renewed) throw new Error('no plan');
  t.ok(Date.parse(renewed.horizonUntil) > Date.parse(plan.horizonUntil), `the next part reaches ${renewed.horizonUntil}`);
  t.ok(Date.parse(renewed.entries[0].startsAt) <= halfway, 'and starts where the clock is');
  t.equal(renewed.entries.length, 500);
});
