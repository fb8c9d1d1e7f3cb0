// [P-3.10] Group plans over the real broker: gateways that hold group plans get a change for all of Hanoi
// as one signed message on the unit's plan topic (no new manifest each), v1.0 gateways (the simulator's
// default) keep getting complete manifests, a station that must not air an entry is told so by `except`,
// and every gateway proves the airing under `{entry}@{station}`.
import { once } from 'node:events';
import { join } from 'node:path';
import t from 'tap';
import { type BodyOf, publicKeyHex, seal } from '#protocol';
import { type SimEvent, Simulator } from '../../edge-agent/simulator.ts';
import { makeAgent } from '../helpers/agent.ts';
import { makeTone } from '../helpers/audio.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { stationCodes } from '../helpers/faults.ts';
import { api, enrollDevice, provisionDevice, startTestServer, untilAcked, untilEvent, uploadApproved } from '../helpers/server.ts';

const EACH = 8;
const clock = new FakeClock(Date.parse('2026-11-22T17:00:00Z'));
const server = await startTestServer({ now: clock.date, env: { LP_SEED_POLICY: 'hanoi-2021' } });
t.teardown(() => server.stop());
const { body: media } = await uploadApproved(server, makeTone(join(server.dataDir, 'group.wav'), { seconds: 1 }));

const codes = await stationCodes(server, 2 * EACH, 0);
const [v11Codes, v1Codes] = [codes.slice(0, EACH), codes.slice(EACH)];
const start = async (stations: string[], groupPlans: boolean) => {
  const tokens: string[] = [];
  for (const code of stations) tokens.push(await provisionDevice(server, code));
  const sim = new Simulator({ serverUrl: server.url, mqttUrl: server.mqttUrl, clock, fetch, groupPlans });
  t.teardown(() => sim.stop());
  await sim.start(tokens, 8);
  return sim;
};
const v11 = await start(v11Codes, true);
const v1 = await start(v1Codes, false);
const events: SimEvent[] = [];
v11.onEvent((e) => events.push(e));
v1.onEvent((e) => events.push(e));
await untilAcked(
  server,
  async () => (await server.db.manifestDelivery.count({ where: { status: 'pending', device: { in: codes } } })) === 0,
);

const schedule = async (startsAt: Date) => {
  const res = await fetch(`${server.url}/api/v1/schedules`, {
    method: 'POST',
    headers: { ...server.auth, 'content-type': 'application/json' },
    body: JSON.stringify({ mediaId: media.id, targets: { units: ['01'] }, startsAt: startsAt.toISOString(), priority: 'emergency' }),
  });
  t.equal(res.status, 201);
  return (await res.json()) as { id: string };
};
const published = (devices: string[]) => server.db.manifestDelivery.count({ where: { device: { in: devices } } });
/** Each station's manifest version (bumped at each compile). */
const versions = async () =>
  new Map(
    (await server.db.station.findMany({ where: { code: { in: codes } }, select: { code: true, manifestVersion: true } })).map((s) => [
      s.code,
      s.manifestVersion,
    ]),
  );
const heldBy = (unitVersion: number) =>
  server.db.groupDelivery.count({ where: { device: { in: v11Codes }, version: unitVersion, unit: { code: '01' } } });
const untilHeld = (version: number) => untilEvent(server.dispatch.events, 'group-ack', async () => (await heldBy(version)) === EACH);

t.test('the first acks say which gateways hold group plans', async (t) => {
  const devices = await server.db.device.findMany({ where: { code: { in: codes } }, select: { code: true, groupPlans: true } });
  t.same(
    devices
      .filter((d) => d.groupPlans)
      .map((d) => d.code)
      .sort(),
    [...v11Codes].sort(),
  );
});

const first = new Date(clock.now() + 3600_000);
const second = new Date(clock.now() + 2 * 3600_000);

t.test('a first programme for all of Hanoi: one group plan, manifests that name it, complete ones for v1.0', async (t) => {
  const before = await published(codes);
  await schedule(first);
  await untilHeld(1);
  await untilAcked(
    server,
    async () => (await server.db.manifestDelivery.count({ where: { device: { in: v1Codes }, status: 'delivered' } })) === 2 * EACH,
  );
  const plan = await server.db.groupPlan.findFirstOrThrow({ where: { unit: { code: '01' } } });
  t.equal(plan.version, 1);
  t.equal(plan.entries, 1);
  t.equal((await published(codes)) - before, 2 * EACH, 'every gateway got a manifest once: v1.1 ones to name the plan');
  const key = (JSON.parse(plan.body) as { entries: { occurrenceId: string }[] }).entries[0].occurrenceId;
  const occ = await server.db.occurrence.findMany({ where: { station: { code: { in: codes } }, startsAt: first } });
  t.same(occ.map((o) => o.id).sort(), codes.map((c) => `${key}@${c}`).sort(), 'each station airs the entry as {key}@{station}');
  t.ok(occ.every((o) => o.groupKey === key));
});

t.test('a second programme for all of Hanoi reaches v1.1 gateways as a new group plan version only', async (t) => {
  const before = await published(v11Codes);
  const beforeV1 = await published(v1Codes);
  const compiled = await versions();
  await schedule(second);
  const now = await versions();
  t.same(
    v11Codes.map((c) => now.get(c)),
    v11Codes.map((c) => compiled.get(c)),
    'the stations of gateways holding group plans were not compiled again: the change is wholly in the group plan',
  );
  t.same(
    v1Codes.map((c) => now.get(c)),
    v1Codes.map((c) => (compiled.get(c) ?? 0) + 1),
    'those of v1.0 gateways were',
  );
  await untilHeld(2);
  await untilAcked(
    server,
    async () => (await server.db.manifestDelivery.count({ where: { device: { in: v1Codes }, status: 'delivered' } })) === 3 * EACH,
  );
  t.equal((await published(v11Codes)) - before, 0, 'no manifest published to a gateway holding group plans');
  t.equal((await published(v1Codes)) - beforeV1, EACH, 'each v1.0 gateway got a complete manifest');
  const acks = events.filter((e) => e.type === 'acked' && e.groups?.some((g) => g.unit === '01' && g.version === 2));
  t.equal(
    new Set(acks.map((e) => (e as { device: string }).device)).size,
    EACH,
    'each v1.1 gateway acknowledged version 2 with its manifest version',
  );
  const since = encodeURIComponent(new Date(clock.now() - 1000).toISOString());
  const sent = (await api(server, 'GET', `/group-deliveries?since=${since}`)).body.items as {
    device: string;
    status: string;
    version: number;
  }[];
  t.same(
    sent.map((d) => d.device).sort(),
    [...v11Codes].sort(),
    'the group plan published just now: one delivery per gateway holding group plans',
  );
  t.ok(sent.every((d) => d.status === 'delivered' && d.version === 2));
  const listed = await api(server, 'GET', '/group-plans');
  t.match(
    listed.body,
    { items: [{ unit: '01', version: 2, entries: 2, gateways: EACH, held: EACH }] },
    'the API shows who holds the version',
  );
});

t.test('a station that must not air one entry is told so by except, and airs the rest', async (t) => {
  const [station] = v11Codes;
  const occ = await server.db.occurrence.findFirstOrThrow({ where: { station: { code: station }, startsAt: second } });
  await server.db.occurrence.update({ where: { id: occ.id }, data: { status: 'cancelled' } });
  const before = await published(v11Codes);
  const acked = untilAcked(
    server,
    async () => (await server.db.manifestDelivery.count({ where: { device: station, status: 'delivered' } })) === 3,
  );
  await server.dispatch.dispatch([occ.stationId]);
  await acked;
  t.equal((await published(v11Codes)) - before, 1, 'that station alone gets a new manifest');
  const plan = await server.db.groupPlan.findFirstOrThrow({ where: { unit: { code: '01' } } });
  t.equal(plan.version, 2, 'the group plan is unchanged: other stations still air the entry');

  const airedCount = () => server.db.occurrence.count({ where: { station: { code: { in: codes } }, asRun: 'aired' } });
  const allStored = untilEvent(server.reports.events, 'handled', async () => (await airedCount()) === 2 * codes.length - 1);
  clock.advanceTo(second.getTime() + 2000);
  await allStored;
  const completed = events.filter(
    (e): e is Extract<SimEvent, { type: 'reported' }> => e.type === 'reported' && e.kind === 'playback.completed',
  );
  t.equal(completed.length, 2 * codes.length - 1, 'both programmes aired everywhere, but the excepted one');
  t.notOk(
    completed.some((e) => e.occurrenceId === occ.id),
    'the excepted entry did not air at its station',
  );
  t.equal(await airedCount(), 2 * codes.length - 1, 'every other airing is proven');
});

t.test(
  'the agent holds the group plan: it arms the entry as {key}@{station}, keeps it across a restart offline, and proves it',
  async (t) => {
    const [station] = await stationCodes(server, 1, 2 * EACH);
    const gateway = await makeAgent({ station, server, clock });
    await gateway.agent.start();
    await gateway.waitFor('manifest');
    await untilAcked(server, async () => (await server.db.device.findFirst({ where: { code: station } }))?.groupPlans === true);
    const third = new Date(clock.now() + 3600_000);
    await schedule(third);
    const plan = await server.db.groupPlan.findFirstOrThrow({ where: { unit: { code: '01' } } });
    const key = (JSON.parse(plan.body) as { entries: { occurrenceId: string; startsAt: string }[] }).entries.find(
      (e) => e.startsAt === third.toISOString(),
    )?.occurrenceId;
    const id = `${key}@${station}`;
    const armed = await gateway.waitFor('armed', (e) => e.occurrenceId === id);
    t.equal(armed.at, third.getTime(), 'armed from the group plan, under its airing id at this station');
    await untilEvent(server.dispatch.events, 'group-ack', async () =>
      Boolean(await server.db.groupDelivery.findFirst({ where: { device: station, version: plan.version } })),
    );
    t.pass(`the agent acknowledged group plan version ${plan.version}`);
    await gateway.waitFor('cached', (e) => e.sha256 === media.sha256);

    // Restart with the broker out of reach: the stored manifest and group plan arm the entry again.
    await gateway.agent.stop();
    const again = await makeAgent({ station, server, clock, dataDir: gateway.dataDir, mqttUrl: 'mqtt://127.0.0.1:9' });
    t.teardown(() => again.agent.stop());
    await again.agent.start();
    t.equal((await again.waitFor('armed', (e) => e.occurrenceId === id)).at, third.getTime(), 'armed offline from the stored group plan');
    await again.waitFor('cached', (e) => e.sha256 === media.sha256);
    clock.advanceTo(third.getTime());
    const finished = await again.waitFor('finished', (e) => e.occurrenceId === id);
    t.equal(finished.report.kind, 'playback.completed', 'it aired in full, offline');
  },
);

t.test('a gateway whose acks stop carrying groups (an older agent put back) gets complete manifests again', async (t) => {
  const [station] = await stationCodes(server, 1, 2 * EACH + 1);
  const gw = await enrollDevice(server, station);
  const hex = publicKeyHex(gw.key.publicKey);
  let seq = 1;
  const signer = { kid: `dev:${hex.slice(0, 16)}`, privateKey: gw.key.privateKey, nextSeq: () => seq++ };
  const ack = (body: BodyOf<'manifest-ack'>) =>
    server.dispatch.handleAck(
      gw.device,
      Buffer.from(JSON.stringify(seal('manifest-ack', body, signer, { now: clock.date(), ttlMs: 3600_000 }))),
    );
  const latest = () => server.db.manifestDelivery.findFirstOrThrow({ where: { device: gw.device }, orderBy: { version: 'desc' } });
  const holds = async () => (await server.db.device.findUniqueOrThrow({ where: { code: gw.device } })).groupPlans;
  const { id: stationId } = await server.db.station.findUniqueOrThrow({ where: { code: station } });

  await schedule(new Date(clock.now() + 3600_000));
  const complete = await latest();
  t.ok(complete.entries >= 1, 'a new gateway gets a complete manifest');
  await ack({ station, version: complete.version, status: 'applied', entries: complete.entries, groups: [] });
  t.ok(await holds(), 'an ack carrying groups says the gateway holds group plans');
  await server.dispatch.dispatch([stationId]);
  const named = await latest();
  t.ok(named.version > complete.version);
  t.equal(named.entries, 0, 'its next manifest names the group plan instead of copying its entries');

  const republished = once(server.dispatch.events, 'complete-plans');
  await ack({ station, version: named.version, status: 'applied', entries: 0 });
  await republished;
  t.notOk(await holds(), 'an ack without groups says it does not');
  const again = await latest();
  t.ok(again.version > named.version);
  t.equal(again.entries, complete.entries, 'a complete manifest again, every entry copied');
});

t.test('a gateway last sent its own part over a day ago gets its manifest again with the next change for its unit', async (t) => {
  const [stale, ...fresh] = v11Codes;
  await server.db.device.update({ where: { code: stale }, data: { planAt: new Date(clock.now() - 2 * 86_400_000) } });
  const before = new Map(await Promise.all(v11Codes.map(async (c) => [c, await published([c])] as const)));
  await schedule(new Date(clock.now() + 3 * 3600_000));
  t.equal((await published([stale])) - (before.get(stale) ?? 0), 1, 'the gateway whose manifest is a day old got a new one');
  for (const c of fresh) t.equal((await published([c])) - (before.get(c) ?? 0), 0, `${c}: none, the change reached it as a group plan`);
});
