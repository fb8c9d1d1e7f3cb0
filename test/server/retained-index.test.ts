// The embedded broker's retained messages found by exact topic (server/mqtt/retained-index.ts): what a
// subscriber receives is what MQTT says, for exact filters (the index) and wildcard ones (aedes' scan),
// after a replacement and after a clear. A real broker and real MQTT.js clients.
import type { Readable } from 'node:stream';
import { connectAsync, type MqttClient } from 'mqtt';
import t from 'tap';
import { commandTopic, type MqttPrincipal, manifestTopic } from '#protocol';
import { startEmbeddedBroker } from '../../server/mqtt/broker.ts';
import { indexedMemoryPersistence } from '../../server/mqtt/retained-index.ts';

const broker = await startEmbeddedBroker({
  host: '127.0.0.1',
  port: 0,
  wsPath: '/mqtt',
  authenticate: async (_id, username): Promise<MqttPrincipal> =>
    username === 'server'
      ? { role: 'server' }
      : username?.startsWith('observer')
        ? { role: 'observer' }
        : { role: 'device', device: username ?? '', units: [] },
  maxPending: 100,
  connectTimeoutMs: 5000,
  log: { warn() {} },
});
await broker.open();
t.teardown(() => broker.stop());
const url = `mqtt://127.0.0.1:${broker.port}`;
const clients: MqttClient[] = [];
t.teardown(() => Promise.all(clients.map((c) => c.endAsync(true))));
const client = async (username: string) => {
  const c = await connectAsync(url, { clientId: username, username, password: 'x', reconnectPeriod: 0 });
  clients.push(c);
  return c;
};
/** What a fresh subscriber receives for `filters`, in order, until a message on `last` arrives. */
const retainedFor = async (username: string, filters: string[], last: string) => {
  const c = await client(username);
  const got: string[] = [];
  const done = new Promise<void>((resolve) =>
    c.on('message', (topic, payload, packet) => {
      got.push(`${topic} ${payload.toString()}${packet.retain ? '' : ' (not retained)'}`);
      if (topic === last) resolve();
    }),
  );
  await c.subscribeAsync(filters, { qos: 1 });
  await done;
  return got;
};

const server = await client('server');
const publish = (topic: string, body: string) => server.publishAsync(topic, body, { qos: 1, retain: true });
await publish(manifestTopic('GW-1'), 'v1');
await publish(manifestTopic('GW-2'), 'v1');
await publish(manifestTopic('GW-1'), 'v2');
await publish(commandTopic('GW-2'), 'c1');

t.test('an exact filter gets the latest retained message of its topic, once', async (t) => {
  t.same(await retainedFor('GW-1', [manifestTopic('GW-1')], manifestTopic('GW-1')), [`${manifestTopic('GW-1')} v2`]);
});

t.test('a wildcard filter still gets every match (the scan)', async (t) => {
  const got = await retainedFor('observer', ['lp/v1/dev/+/manifest', commandTopic('GW-2')], commandTopic('GW-2'));
  t.same(got.sort(), [`${manifestTopic('GW-1')} v2`, `${commandTopic('GW-2')} c1`, `${manifestTopic('GW-2')} v1`]);
});

t.test('a cleared topic (empty retained payload) is gone for both kinds of filter', async (t) => {
  await publish(manifestTopic('GW-2'), '');
  // The manifest's filter comes first: had anything been retained there, it would arrive before the command.
  t.same(await retainedFor('GW-2', [manifestTopic('GW-2'), commandTopic('GW-2')], commandTopic('GW-2')), [`${commandTopic('GW-2')} c1`]);
  const wild = await retainedFor('observer-2', ['lp/v1/dev/+/manifest', commandTopic('GW-2')], commandTopic('GW-2'));
  t.notMatch(wild.join('\n'), /GW-2\/manifest/, 'the scan agrees');
});

t.test('the persistence on its own: stream answers from the index and from the scan agree', async (t) => {
  const p = indexedMemoryPersistence();
  // As aedes calls it: without a callback, a promise back.
  const store = p.storeRetained as unknown as (packet: never) => Promise<void>;
  const packet = (topic: string, payload: string) =>
    ({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, retain: true, dup: false, brokerId: 'b', brokerCounter: 1 }) as never;
  await store(packet('a/b', '1'));
  await store(packet('a/c', '2'));
  const read = async (s: Readable) => ((await s.toArray()) as { topic: string }[]).map((m) => m.topic);
  t.same(
    await read(p.createRetainedStreamCombi(['a/c', 'a/b', 'a/x'])),
    ['a/c', 'a/b'],
    'in the order of the filters, unknown topics skipped',
  );
  t.same((await read(p.createRetainedStream('a/+'))).sort(), ['a/b', 'a/c']);
  t.same(await read(p.createRetainedStream('a/b')), ['a/b']);
  await store(packet('a/b', ''));
  t.same(await read(p.createRetainedStream('a/b')), []);
  t.same(await read(p.createRetainedStream('a/#')), ['a/c']);
});
