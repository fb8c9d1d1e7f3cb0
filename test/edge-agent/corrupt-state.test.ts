// Corrupt local state is never silently reset (issue 21): an unreadable state.json or now-playing
// journal is kept aside, logged, announced as an event and in every telemetry; the previous state
// generation stands in; with none readable the agent refuses to start until the operator resets it. A key
// that no longer matches the enrolled one is told by the server ([P-5.4.1]) and loses no proof.
// Real server, broker, files and agent.

import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectAsync } from 'mqtt';
import t from 'tap';
import { type StationState, stateTopic } from '#protocol';
import { makeAgent, onlineAgent } from '../helpers/agent.ts';
import { makeTone } from '../helpers/audio.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { stationCodes } from '../helpers/faults.ts';
import { api, scheduleItem, startTestServer, untilEvent, uploadApproved } from '../helpers/server.ts';

const clock = new FakeClock(Date.now());
const server = await startTestServer({ now: clock.date });
t.teardown(() => server.stop());
const station = 'HN-00061';
const kept = (dir: string, name: string) => readdirSync(dir).filter((f) => f.startsWith(`${name}.corrupt-`));

// One gateway's data directory, enrolled and synced once, then stopped.
const first = await onlineAgent(t, { station, server, clock });
await first.waitFor('manifest');
const { device } = first.agent.identity();
await first.agent.stop();
const { dataDir } = first;
const enrolled = JSON.parse(readFileSync(join(dataDir, 'state.json'), 'utf8'));

t.test('an unreadable state.json is kept aside and the previous generation stands in, reported in telemetry', async (t) => {
  t.ok(existsSync(join(dataDir, 'state.prev.json')), 'each save keeps the one before');
  const prev = JSON.parse(readFileSync(join(dataDir, 'state.prev.json'), 'utf8'));
  writeFileSync(join(dataDir, 'state.json'), '{"enrollment": {"dev');
  const gw = await makeAgent({ station, server, clock, dataDir });
  await gw.agent.start();
  t.teardown(() => gw.agent.stop());
  const corrupt = await gw.waitFor('corrupt-state');
  t.equal(corrupt.file, 'state.json');
  t.match(corrupt.error, /JSON/);
  t.same(kept(dataDir, 'state.json').length, 1, 'the broken file is kept beside the state');
  t.equal(readFileSync(corrupt.keptAs, 'utf8'), '{"enrollment": {"dev', 'byte for byte');
  t.equal(gw.agent.identity().device, device, 'the same gateway: its enrollment was not forgotten');
  const { state } = gw.agent.inspect().ctx;
  t.same(state.enrollment, enrolled.enrollment, 'its enrollment was not forgotten');
  t.same([state.lastSeq, state.seenIds], [prev.lastSeq, prev.seenIds], "its replay memory is the previous generation's");
  const telemetry = await gw.waitFor('telemetry');
  t.same(telemetry.body.faults, ['CORRUPT_STATE:state.json'], 'the gateway says so to the server');
  const alerts = async () => (await api(server, 'GET', `/alerts?station=${station}&kind=device_fault&status=new`)).body.items as unknown[];
  await untilEvent(server.reports.events, 'telemetry', async () => (await alerts()).length > 0);
  t.match(await alerts(), [{ kind: 'device_fault', message: /CORRUPT_STATE:state\.json/ }], 'an open alert on the server');
  await gw.waitFor('subscribed');
});

t.test('with no readable generation the agent refuses to start, and forgets nothing', async (t) => {
  writeFileSync(join(dataDir, 'state.json'), 'not json');
  writeFileSync(join(dataDir, 'state.prev.json'), JSON.stringify({ lastSeq: 'many' }));
  const gw = await makeAgent({ station, server, clock, dataDir });
  await t.rejects(gw.agent.start(), { code: 'CORRUPT_STATE', message: /--reset-state/ });
  t.notOk(existsSync(join(dataDir, 'state.json')), 'no clean state was written over it');
  t.equal(kept(dataDir, 'state.json').length, 2, 'both generations kept aside (with the earlier one)');
  t.equal(kept(dataDir, 'state.prev.json').length, 1);
  // A restart without the operator still refuses: the kept files are not taken for "no state".
  const again = await makeAgent({ station, server, clock, dataDir });
  await t.rejects(again.agent.start(), /not enrolled/, 'with nothing left to read it is a new gateway that needs a token');
});

t.test('the operator resets: the gateway enrolls again with a new token', async (t) => {
  const gw = await makeAgent({ station, server, clock, dataDir, resetState: true, reenroll: true });
  await gw.agent.start();
  t.teardown(() => gw.agent.stop());
  await gw.waitFor('enrolled');
  t.not(gw.agent.identity().device, device, 'a new enrollment');
  t.not(gw.agent.inspect().ctx.state.enrollment?.mqtt.password, enrolled.enrollment.mqtt.password);
});

t.test('an unreadable now-playing journal is kept aside and reported, not dropped', async (t) => {
  const gw0 = await onlineAgent(t, { station: 'HN-00064', server, clock });
  await gw0.agent.stop();
  writeFileSync(join(gw0.dataDir, 'now-playing.json'), '{"entry":');
  const gw = await makeAgent({ station: 'HN-00064', server, clock, dataDir: gw0.dataDir });
  await gw.agent.start();
  t.teardown(() => gw.agent.stop());
  const corrupt = await gw.waitFor('corrupt-state');
  t.equal(corrupt.file, 'now-playing.json');
  t.equal(readFileSync(corrupt.keptAs, 'utf8'), '{"entry":');
  t.notOk(existsSync(join(gw0.dataDir, 'now-playing.json')));
  const telemetry = await gw.waitFor('telemetry');
  t.same(telemetry.body.faults, ['CORRUPT_STATE:now-playing.json']);
});

t.test(
  'a device key that no longer matches its enrollment: reports named unverified and kept, KEY_REFUSED in its state, an alert; the right key again delivers them',
  async (t) => {
    const [code = ''] = await stationCodes(server, 1, 470);
    const gw0 = await onlineAgent(t, { station: code, server, clock });
    await gw0.waitFor('manifest');
    const { device: dev } = gw0.agent.identity();
    await gw0.agent.stop();
    const keyFile = join(gw0.dataDir, 'device-ed25519.pem');
    const enrolledKey = readFileSync(keyFile, 'utf8');
    writeFileSync(keyFile, generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);

    const { body: media } = await uploadApproved(server, makeTone(join(server.dataDir, 'key.wav'), { seconds: 1 }));
    const at = clock.now() + 20_000;
    const occurrence = await scheduleItem(server, media.id, code, at);
    const peer = await connectAsync(server.mqttUrl, { protocolVersion: 4, ...server.brokerLogin });
    t.teardown(() => peer.endAsync());
    const states: StationState[] = [];
    peer.on('message', (topic, payload) => topic === stateTopic(dev) && states.push(JSON.parse(payload.toString())));
    // The server's own login reads every device's state, by the filter it ingests them with.
    await peer.subscribeAsync(stateTopic(dev).replace(dev, '+'), { qos: 1 });
    /** The first state the gateway published that satisfies `check`, once there is one. */
    const untilState = async (check: (s: StationState) => boolean) => {
      await untilEvent(peer, 'message', async () => states.some(check));
      return states.find(check) as StationState;
    };

    const gw = await makeAgent({ station: code, server, clock, dataDir: gw0.dataDir });
    await gw.agent.start();
    await gw.waitFor('cached');
    clock.advanceTo(at);
    await gw.waitFor('finished', (e) => e.occurrenceId === occurrence);
    const refused = await untilState((s) => s.faults?.includes('KEY_REFUSED') === true);
    t.same(refused.faults, ['KEY_REFUSED'], 'the gateway says, unsigned, that its signatures are refused');
    const outbox = () => readdirSync(join(gw.dataDir, 'outbox')).filter((f) => f.endsWith('.json')).length;
    t.equal(outbox(), 2, 'both proofs stay in the outbox: an unverified report is never let go');
    t.equal(await server.db.playbackReport.count({ where: { occurrenceId: occurrence } }), 0, 'and nothing unverified is stored');
    const alerts = async () =>
      (await api(server, 'GET', `/alerts?station=${code}&kind=device_fault&status=new`)).body.items as { message: string }[];
    await Promise.race([
      untilEvent(server.reports.events, 'handled', async () => (await alerts()).length > 0),
      untilEvent(server.reports.events, 'telemetry', async () => (await alerts()).length > 0),
    ]);
    t.match((await alerts())[0]?.message, /KEY_REFUSED|failed their signature/, 'the operator is told to enroll it again');
    await gw.agent.stop();

    // The enrolled key back (a restored backup). The kept proofs were signed with the wrong key and are
    // refused again as they are; the receipt that says so also offers batches, and a batch is signed anew,
    // with the right key: they are stored, and the fault is withdrawn.
    writeFileSync(keyFile, enrolledKey);
    const before = states.length;
    const back = await makeAgent({ station: code, server, clock, dataDir: gw0.dataDir });
    await back.agent.start();
    t.teardown(() => back.agent.stop());
    await untilState((s) => states.indexOf(s) >= before && s.faults?.includes('KEY_REFUSED') === true);
    clock.advance(2000);
    await back.waitFor('delivered');
    await untilEvent(
      server.reports.events,
      'handled',
      async () => (await server.db.playbackReport.count({ where: { occurrenceId: occurrence } })) === 2,
    );
    t.pass('both proofs stored, from a batch signed with the enrolled key');
    const refusedAt = states.findLastIndex((s) => s.faults?.includes('KEY_REFUSED'));
    await untilState((s) => states.indexOf(s) > refusedAt && s.online && !s.faults);
    t.pass('and its state no longer reports the fault');
    t.equal(readdirSync(join(back.dataDir, 'outbox')).filter((f) => f.endsWith('.json')).length, 0);
  },
);

t.test('[P-5.1.1] enrollment names the zones the server addresses; one the gateway has no output for is a fault it reports', async (t) => {
  const [code = ''] = await stationCodes(server, 1, 471);
  const gw = await onlineAgent(t, { station: code, server, clock, zones: ['z1'], serverZones: ['z1', 'san-cho'] });
  t.same(gw.agent.inspect().ctx.state.enrollment?.zones, ['san-cho', 'z1'], 'the enrollment answer listed both');
  const telemetry = await gw.waitFor('telemetry');
  t.same(telemetry.body.faults, ['ZONE_UNMAPPED:san-cho'], 'the zone it cannot play is reported, not ignored');
  const alerts = async () => (await api(server, 'GET', `/alerts?station=${code}&kind=device_fault&status=new`)).body.items as unknown[];
  await untilEvent(server.reports.events, 'telemetry', async () => (await alerts()).length > 0);
  t.match(await alerts(), [{ message: /ZONE_UNMAPPED:san-cho/ }], 'and the operator sees it');
});
