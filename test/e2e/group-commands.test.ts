// Group commands [P-2.3], [P-5.5]: one signed emergency.start on a district's group topic reaches every
// gateway below the district (and none outside it), cuts what plays (PREEMPTED), airs, is answered by each
// gateway on its own reply topic, and one emergency.cancel ends it everywhere. A manifest that names the
// station's units anew moves the gateway's group topics at once. Real agents, broker, server and ffmpeg.
import { once } from 'node:events';
import { join } from 'node:path';
import t from 'tap';
import { groupAiringId, type Reply, seal } from '#protocol';
import { mediaRef, onlineAgent } from '../helpers/agent.ts';
import { makeTone } from '../helpers/audio.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { api, startTestServer, uploadApproved } from '../helpers/server.ts';

const clock = new FakeClock(Date.now());
const server = await startTestServer({ now: clock.date });
t.teardown(() => server.stop());

// Two stations of one district and one of another, from the seeded 2024 map.
const stations = await server.db.station.findMany({ include: { unit: { include: { parent: true } } }, orderBy: { code: 'asc' } });
const first = stations[0] as (typeof stations)[number];
const district = first.unit.parent?.code as string;
const sameDistrict = stations.filter((s) => s.unit.parent?.code === district).slice(0, 2);
const elsewhere = stations.find((s) => s.unit.parent?.code !== district) as (typeof stations)[number];
const [a, b, c] = await Promise.all([...sameDistrict, elsewhere].map((s) => onlineAgent(t, { station: s.code, server, clock })));
for (const gw of [a, b, c]) await gw?.waitFor('manifest');

/** [P-5.5] The id a group emergency airs under at a gateway's station. */
const airedAs = (gw: { agent: { identity(): { station: string } } }, id: string) => groupAiringId(id, gw.agent.identity().station);

/** Waits until each named device has answered the group command. */
async function repliesFrom(txn: string, devices: string[]): Promise<Map<string, Reply>> {
  const { commands } = server;
  while (!devices.every((d) => commands.replies(txn).has(d))) await once(commands.events, 'group-reply');
  return commands.replies(txn);
}

t.test('an emergency on the district group reaches its gateways only: preempts, airs, is answered, and one cancel ends it', async (t) => {
  if (!a || !b || !c) throw new Error('agents did not start');
  const { body: talk } = await uploadApproved(server, makeTone(join(server.dataDir, 'g-talk.wav'), { seconds: 20, frequency: 300 }));
  const { body: siren } = await uploadApproved(server, makeTone(join(server.dataDir, 'g-siren.wav'), { seconds: 1, frequency: 1400 }));
  const play = await server.commands.send(sameDistrict[0]?.code as string, {
    action: 'play-now',
    occurrenceId: 'g-talk',
    priority: 'priority',
    media: mediaRef(talk),
  });
  t.equal(play.ok, true);
  await a.waitFor('started', (e) => e.occurrenceId === 'g-talk');

  const repeatUntil = new Date(clock.now() + 600_000).toISOString();
  const sent = await server.commands.sendToGroup(district, {
    action: 'emergency.start',
    occurrenceId: 'g-em-1',
    media: mediaRef(siren),
    repeatUntil,
  });
  const expected = [a, b].map((gw) => gw.agent.identity().device).sort();
  t.same(sent.devices, expected, 'the gateways below the district, and only they, are expected to answer');
  const replies = await repliesFrom(sent.txn, expected);
  for (const device of expected) t.match(replies.get(device), { ok: true, action: 'emergency.start', result: { repeatUntil } });
  const cut = await a.waitFor('finished', (e) => e.occurrenceId === 'g-talk');
  t.match(cut.report, { kind: 'playback.completed', reason: 'PREEMPTED' }, 'what played is cut and says why');
  for (const gw of [a, b]) await gw.waitFor('started', (e) => e.occurrenceId === airedAs(gw, 'g-em-1'));
  t.notOk(
    c.events.some((e) => e.type === 'started' && e.occurrenceId === airedAs(c, 'g-em-1')),
    'a gateway of another district never airs it',
  );
  t.notOk(replies.has(c.agent.identity().device), 'nor answers it');

  const cancel = await server.commands.sendToGroup(district, { action: 'emergency.cancel', occurrenceId: 'g-em-1' });
  const cancelled = await repliesFrom(cancel.txn, expected);
  for (const gw of [a, b]) t.match(cancelled.get(gw.agent.identity().device), { ok: true, result: { cancelled: airedAs(gw, 'g-em-1') } });
  for (const gw of [a, b]) {
    const end = await gw.waitFor('finished', (e) => e.occurrenceId === airedAs(gw, 'g-em-1') && e.report.reason === 'CANCELLED');
    t.equal(end.report.reason, 'CANCELLED');
  }
});

t.test('a group carries only emergencies and live audio: the server refuses the rest, a gateway answers NOT_SUPPORTED', async (t) => {
  if (!a || !b) throw new Error('agents did not start');
  await t.rejects(server.commands.sendToGroup(district, { action: 'volume', level: 10 }), { code: 'NOT_A_GROUP_ACTION' });
  // Signed by the server itself, as a buggy or older server would send it.
  const envelope = seal('command', { txn: 'g-volume-1', action: 'volume', level: 10 }, server.key.signer, {
    now: clock.date(),
    ttlMs: 60_000,
  });
  const before = a.agent.inspect().ctx.state.volume;
  const got = a.waitFor('replied', (e) => e.reply.txn === 'g-volume-1');
  await a.agent.inspect().rooms.commands.onCommand(Buffer.from(JSON.stringify(envelope)), district);
  t.match((await got).reply, { ok: false, error: { code: 'NOT_SUPPORTED' } });
  t.same(a.agent.inspect().ctx.state.volume, before, 'and does not act on it');
});

t.test('an emergency plays at the level the policy names for emergencies, above the ceiling that holds the rest down', async (t) => {
  if (!a) throw new Error('agents did not start');
  const version = a.agent.inspect().ctx.state.manifest?.version ?? 0;
  const policy = { maxVolume: [{ start: '00:00', end: '24:00', level: 20 }], emergencyVolume: 90 };
  t.match(await api(server, 'PUT', `/units/${district}/policy`, policy), { status: 200 }, 'the policy is set');
  await a.waitFor('manifest', (e) => e.version > version);
  t.match(a.agent.inspect().ctx.state.manifest?.policy, { emergencyVolume: 90 }, 'the manifest carries it');
  const { body: talk } = await uploadApproved(server, makeTone(join(server.dataDir, 'v-talk.wav'), { seconds: 20, frequency: 300 }));
  const { body: siren } = await uploadApproved(server, makeTone(join(server.dataDir, 'v-siren.wav'), { seconds: 5, frequency: 1400 }));
  const station = sameDistrict[0]?.code as string;
  await server.commands.send(station, { action: 'play-now', occurrenceId: 'v-talk', priority: 'normal', media: mediaRef(talk) });
  await a.waitFor('started', (e) => e.occurrenceId === 'v-talk');
  const { onAir } = a.agent.inspect().rooms;
  t.same(onAir.current?.zones, { z1: 20 }, 'a normal item under the ceiling');
  const sent = await server.commands.sendToGroup(district, { action: 'emergency.start', occurrenceId: 'v-em', media: mediaRef(siren) });
  await a.waitFor('started', (e) => e.occurrenceId === airedAs(a, 'v-em'));
  t.same(onAir.current?.zones, { z1: 90 }, 'the emergency at its own level');
  t.match(await server.commands.send(station, { action: 'volume', level: 5 }), { ok: true });
  t.same(onAir.current?.zones, { z1: 90 }, 'a volume command does not turn an emergency down');
  await repliesFrom(sent.txn, [a.agent.identity().device]);
  const cancel = await server.commands.sendToGroup(district, { action: 'emergency.cancel', occurrenceId: 'v-em' });
  await a.waitFor('finished', (e) => e.occurrenceId === airedAs(a, 'v-em'));
  await repliesFrom(cancel.txn, [a.agent.identity().device]);
  await server.commands.send(station, { action: 'volume', level: 100 });
  t.match(await api(server, 'PUT', `/units/${district}/policy`, {}), { status: 200 }, 'and cleared');
});

t.test('a merge that moves a station to another district moves its gateway’s group topics with the next manifest', async (t) => {
  if (!a || !b || !c) throw new Error('agents did not start');
  const { ctx } = c.agent.inspect();
  const before = [...(ctx.state.enrollment?.groups ?? [])];
  t.notOk(before.includes(district), `enrolled under ${before.join(' < ')}`);
  // The commune of the station elsewhere merges into a commune of the district.
  const into = sameDistrict[0]?.unit.code as string;
  await server.units.merge({ sources: [elsewhere.unit.code], into: { code: into } });
  const followed = await c.waitFor('groups', (e) => e.groups.includes(district));
  t.same(followed.groups.slice(0, 2), [into, district], 'nearest first: the commune, then its district');
  t.same(ctx.state.enrollment?.groups, followed.groups, 'kept in the durable state');
  const sent = await server.commands.sendToGroup(district, { action: 'emergency.cancel', occurrenceId: 'nothing-airs' });
  const expected = [a, b, c].map((gw) => gw.agent.identity().device).sort();
  t.same(sent.devices, expected, 'the server counts it below the district now');
  const replies = await repliesFrom(sent.txn, expected);
  t.match(replies.get(c.agent.identity().device), { ok: true, result: { cancelled: null } }, 'and it hears the district');
});
