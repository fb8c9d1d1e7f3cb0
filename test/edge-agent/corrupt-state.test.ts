// Corrupt local state is never silently reset (issue 21): an unreadable state.json or now-playing
// journal is kept aside, logged, announced as an event and in every telemetry; the previous state
// generation stands in; with none readable the agent refuses to start until the operator resets it.
// Real server, broker, files and agent.

import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { makeAgent, onlineAgent } from '../helpers/agent.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { api, startTestServer, untilEvent } from '../helpers/server.ts';

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
