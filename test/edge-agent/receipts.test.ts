// The agent's outbox against a broker that PUBACKs but has no server behind it (a real aedes broker on its
// own port): a PUBACK leaves every proof on disk; a receipt not signed by the server removes nothing; the
// server's signed receipt removes exactly what it lists [P-3.8]. And an item found late, inside its start
// window, airs [P-5.4]. Real agent, ffmpeg null sink, fake clock.
import { generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import { connectAsync } from 'mqtt';
import t from 'tap';
import { type ManifestEntry, manifestTopic, receiptTopic, reportTopic, seal } from '#protocol';
import { makeAgent, manifestEntry, onlineAgent, signedManifest } from '../helpers/agent.ts';
import { makeTone } from '../helpers/audio.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { stationCodes } from '../helpers/faults.ts';
import { startTestServer, uploadApproved } from '../helpers/server.ts';

const clock = new FakeClock(Date.now());
const server = await startTestServer({ now: clock.date });
t.teardown(() => server.stop());
const { body: media } = await uploadApproved(server, makeTone(join(server.dataDir, 'r.wav'), { seconds: 2 }));
const entry = (occurrenceId: string, startsAt: number, extra: Partial<ManifestEntry> = {}): ManifestEntry => ({
  ...manifestEntry(media, occurrenceId, startsAt),
  ...extra,
});
const manifest = (station: string, version: number, entries: ManifestEntry[]) =>
  signedManifest(server, { station, version, entries, now: clock.now() });
const [first, second] = await stationCodes(server, 2, 450);
const outbox = (dir: string) => readdirSync(join(dir, 'outbox')).filter((f) => f.endsWith('.json')).length;

t.test('a PUBACK keeps the proofs on disk; only the server-signed receipt removes them, and only what it lists', async (t) => {
  const broker = await Aedes.createBroker();
  const tcp = createServer((socket) => broker.handle(socket));
  tcp.listen(0, '127.0.0.1');
  await once(tcp, 'listening');
  t.teardown(() => new Promise<void>((r) => broker.close(() => tcp.close(() => r()))));
  const bareUrl = `mqtt://127.0.0.1:${(tcp.address() as AddressInfo).port}`;
  const peer = await connectAsync(bareUrl, { protocolVersion: 4 });
  t.teardown(() => peer.endAsync());

  const station = first as string;
  // Enrolled with the real server over HTTP, but its MQTT goes to the bare broker.
  const gw = await makeAgent({ station, server, clock, mqttUrl: bareUrl });
  await gw.agent.start();
  t.teardown(() => gw.agent.stop());
  await gw.waitFor('subscribed');
  const device = gw.agent.identity().device;
  const reports: string[] = [];
  await peer.subscribeAsync(reportTopic(device), { qos: 1 });
  peer.on('message', (topic, payload) => topic === reportTopic(device) && reports.push(JSON.parse(payload.toString()).id));

  const at = clock.now() + 10_000;
  await peer.publishAsync(manifestTopic(device), manifest(station, 1, [entry('occ-r1', at)]), { qos: 1, retain: true });
  await gw.waitFor('cached');
  clock.advanceTo(at);
  await gw.waitFor('finished', (e) => e.occurrenceId === 'occ-r1');
  await new Promise<void>((resolve) => {
    const check = () => (reports.length >= 2 ? resolve() : peer.once('message', check));
    check();
  });
  t.equal(outbox(gw.dataDir), 2, 'both proofs PUBACKed by the broker, both still in the outbox');

  const [started, completed] = [...new Set(reports)] as [string, string];
  const forged = seal(
    'receipt',
    { station, stored: [started, completed], refused: [] },
    { ...server.key.signer, privateKey: generateKeyPairSync('ed25519').privateKey },
    {
      now: clock.date(),
      ttlMs: 3600_000,
    },
  );
  await peer.publishAsync(receiptTopic(device), JSON.stringify(forged), { qos: 1 });
  const genuine = seal('receipt', { station, stored: [started], refused: [] }, server.key.signer, { now: clock.date(), ttlMs: 3600_000 });
  await peer.publishAsync(receiptTopic(device), JSON.stringify(genuine), { qos: 1 });
  await gw.waitFor('delivered', (e) => e.id === started);
  t.equal(outbox(gw.dataDir), 1, 'the forged receipt removed nothing; the genuine one removed the start proof only');
  t.notOk(
    gw.events.some((e) => e.type === 'delivered' && e.id === completed),
    'the end proof is still waiting for its receipt',
  );

  // Unreceipted, it goes out again after the backoff (1 s doubling, jittered), as the same envelope.
  const before = reports.filter((id) => id === completed).length;
  const resent = new Promise<void>((resolve) => {
    const check = () => (reports.filter((id) => id === completed).length > before ? resolve() : peer.once('message', check));
    check();
  });
  clock.advance(2000);
  await resent;
  t.pass('the end proof was sent again');
  const last = seal('receipt', { station, stored: [], refused: [{ id: completed, code: 'UNKNOWN_OCCURRENCE' }] }, server.key.signer, {
    now: clock.date(),
    ttlMs: 3600_000,
  });
  await peer.publishAsync(receiptTopic(device), JSON.stringify(last), { qos: 1 });
  const refused = await gw.waitFor('delivered', (e) => e.id === completed);
  t.equal(refused.refused, 'UNKNOWN_OCCURRENCE', 'a proof refused for good leaves the outbox too');
  t.equal(outbox(gw.dataDir), 0);
});

t.test('found 61 s late inside a 5-minute start window, an item airs; without a window it is reported missed', async (t) => {
  const station = second as string;
  const gw = await onlineAgent(t, { station, server, clock });
  const device = gw.agent.identity().device;
  const started = clock.now() - 61_000;
  const publisher = await connectAsync(server.mqttUrl, { protocolVersion: 4, ...server.brokerLogin });
  t.teardown(() => publisher.endAsync());
  await publisher.publishAsync(
    manifestTopic(device),
    manifest(station, 99, [
      entry('occ-hard', started - 1),
      entry('occ-window', started, { latestStartAt: new Date(started + 300_000).toISOString() }),
    ]),
    { qos: 1, retain: true },
  );
  const window = await gw.waitFor('finished', (e) => e.occurrenceId === 'occ-window');
  t.equal(window.report.kind, 'playback.completed', 'aired from the moment the gateway found it');
  t.notOk(window.report.reason, 'in full');
  const hard = await gw.waitFor('finished', (e) => e.occurrenceId === 'occ-hard');
  t.equal(hard.report.reason, 'MISSED_WINDOW', 'a hard start found 61 s late is missed');
});
