// [P-2.6] Broker access control: the rules, and the embedded broker enforcing them on real MQTT sessions.
import { once } from 'node:events';
import { connectAsync, type MqttClient } from 'mqtt';
import t from 'tap';
import {
  commandTopic,
  grants,
  groupCommandTopic,
  type MqttPrincipal,
  manifestTopic,
  mayPublish,
  maySubscribe,
  reportTopic,
  stateTopic,
} from '#protocol';
import { matchExact } from '../helpers/match.ts';
import { api, deviceClient, enrollDevice, startTestServer } from '../helpers/server.ts';

const closed = (c: MqttClient) => new Promise<void>((resolve) => c.once('close', () => resolve()));

const device: MqttPrincipal = { role: 'device', device: 'HN-00001', units: ['00001', '001', '01'] };

t.test('a device publishes only to its own device-to-server channels and subscribes only to its own topics', (t) => {
  for (const topic of [reportTopic('HN-00001'), stateTopic('HN-00001'), 'lp/v1/dev/HN-00001/ack', 'lp/v1/dev/HN-00001/telemetry'])
    t.ok(mayPublish(device, topic), topic);
  for (const topic of [
    reportTopic('HN-00002'),
    manifestTopic('HN-00001'),
    commandTopic('HN-00001'),
    groupCommandTopic('001'),
    'lp/v1/dev/+/report',
    'other/x',
  ])
    t.notOk(mayPublish(device, topic), topic);
  for (const filter of [manifestTopic('HN-00001'), commandTopic('HN-00001'), groupCommandTopic('001'), 'lp/v1/grp/01/live'])
    t.ok(maySubscribe(device, filter), filter);
  for (const filter of [commandTopic('HN-00002'), groupCommandTopic('002'), 'lp/v1/#', 'lp/v1/dev/+/cmd', '#'])
    t.notOk(maySubscribe(device, filter), filter);
  t.end();
});

t.test('only the server publishes manifests and commands; an observer publishes nothing', (t) => {
  const server: MqttPrincipal = { role: 'server' };
  t.ok(mayPublish(server, manifestTopic('HN-00001')));
  t.ok(mayPublish(server, groupCommandTopic('01')));
  t.notOk(mayPublish(server, reportTopic('HN-00001')), 'the server never speaks for a device');
  t.ok(maySubscribe(server, 'lp/v1/dev/+/report'));
  t.notOk(maySubscribe(server, '#'));
  const observer: MqttPrincipal = { role: 'observer' };
  t.notOk(mayPublish(observer, stateTopic('HN-00001')));
  t.ok(maySubscribe(observer, 'lp/v1/#'));
  t.notOk(maySubscribe(observer, '$SYS/#'));
  t.end();
});

t.test('the grant lists (for a Mosquitto ACL file) say exactly what the rules say', (t) => {
  const concrete = (filter: string) => filter.replace('+', 'HN-00009').replace('#', '001/cmd');
  for (const p of [device, { role: 'server' } as const, { role: 'observer' } as const]) {
    const g = grants(p);
    for (const topic of g.publish) t.ok(mayPublish(p, concrete(topic)), `${p.role} publishes ${topic}`);
    for (const filter of g.subscribe) t.ok(maySubscribe(p, filter), `${p.role} subscribes ${filter}`);
  }
  t.same(grants(device).publish.length, 5, "a device's five channels to the server, nothing else");
  t.same(grants({ role: 'observer' }).publish, [], 'an observer publishes nothing');
  t.end();
});

t.test('the embedded broker refuses what a session may not do', async (t) => {
  const server = await startTestServer();
  t.teardown(() => server.stop());
  const a = await enrollDevice(server, 'HN-00001');
  const b = await enrollDevice(server, 'HN-00004');

  const gw = await deviceClient(server, a.device, a.password);
  t.teardown(() => gw.endAsync());
  // MQTT.js rejects the call when any grant is a refusal; the SUBACK rides on the error.
  const refused = (await gw
    .subscribeAsync([commandTopic(a.device), commandTopic('HN-00004'), groupCommandTopic('001'), 'lp/v1/#'], { qos: 1 })
    .then(
      () => ({ packet: { granted: [] } }),
      (err: unknown) => err,
    )) as { packet: { granted: number[] } };
  t.same(
    refused.packet.granted,
    [1, 128, 1, 128],
    'its own command topic and its district granted; another gateway’s and the wildcard refused in the SUBACK',
  );

  // Gateway B publishing as A, or where only the server may: the broker drops the connection and nothing arrives.
  const handled: string[] = [];
  server.reports.events.on('handled', (outcome: string, kind: string) => handled.push(`${outcome}:${kind}`));
  for (const topic of [reportTopic(a.device), manifestTopic(b.device), commandTopic(a.device)]) {
    const c = await deviceClient(server, b.device, b.password);
    const gone = closed(c);
    c.publish(topic, '{"forged":true}', { qos: 1 });
    await gone;
    t.pass(`publish to ${topic} closed the session`);
  }
  const observer = await connectAsync(server.mqttUrl, { protocolVersion: 4, reconnectPeriod: 0 });
  const gone = closed(observer);
  observer.publish(commandTopic(a.device), '{}', { qos: 1 });
  await gone;
  t.pass('an anonymous observer cannot publish');
  // What is allowed still flows (and proves the server was listening all along).
  await gw.publishAsync(reportTopic(a.device), 'not json', { qos: 1 });
  while (!handled.length) await once(server.reports.events, 'handled');
  t.same(handled, ['rejected:MALFORMED'], 'only the allowed publish reached the server');
  t.equal(await server.db.playbackReport.count(), 0);
});

t.test('without LP_MQTT_ANONYMOUS an anonymous client cannot log in at all', async (t) => {
  const server = await startTestServer({ env: { LP_MQTT_ANONYMOUS: 'false' } });
  t.teardown(() => server.stop());
  await t.rejects(
    connectAsync(server.mqttUrl, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000 }),
    /Not authorized|Bad username|bad/i,
  );
});

t.test('a merge moves a gateway: its session is closed and it logs in again with the new unit’s group rights', async (t) => {
  const server = await startTestServer();
  t.teardown(() => server.stop());
  const a = await enrollDevice(server, 'HN-00037');
  const gw = await deviceClient(server, a.device, a.password);
  matchExact(t, await gw.subscribeAsync(groupCommandTopic('00037'), { qos: 1 }), [{ qos: 1 }], 'its commune’s group before');
  const gone = closed(gw);
  const merged = await api(server, 'POST', '/units/merge', {
    sources: ['00037', '00040'],
    into: { code: '99001', name: 'Phường Mới', type: 'Phường', parentCode: '001' },
  });
  t.equal(merged.status, 200);
  await gone;
  t.pass('its session was closed by the merge');
  const again = await deviceClient(server, a.device, a.password);
  t.teardown(() => again.endAsync());
  matchExact(t, await again.subscribeAsync(groupCommandTopic('99001'), { qos: 1 }), [{ qos: 1 }], 'the new unit’s group');
  await t.rejects(
    again.subscribeAsync(groupCommandTopic('00037'), { qos: 1 }),
    /Subscribe error/,
    'the merged-away commune’s group is refused',
  );
});
