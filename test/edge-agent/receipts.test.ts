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
import t, { type Test } from 'tap';
import { type Envelope, type ManifestEntry, manifestTopic, open, publicKeyFromHex, receiptTopic, reportTopic, seal } from '#protocol';
import { makeAgent, manifestEntry, onlineAgent, signedManifest } from '../helpers/agent.ts';
import { makeTone } from '../helpers/audio.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { stationCodes } from '../helpers/faults.ts';
import { startTestServer, untilEvent, uploadApproved } from '../helpers/server.ts';

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
const [first, second, third] = await stationCodes(server, 3, 450);
const outbox = (dir: string) => readdirSync(join(dir, 'outbox')).filter((f) => f.endsWith('.json')).length;

/**
 * A gateway enrolled with the real server over HTTP whose MQTT goes to a bare aedes broker on its own port (no
 * server behind it), and a peer session there that plays the server: `reports` holds every envelope the
 * gateway published on its report topic, `untilReports` waits until they satisfy `done`.
 */
async function bareGateway(t: Test, station: string) {
  const broker = await Aedes.createBroker();
  const tcp = createServer((socket) => broker.handle(socket));
  tcp.listen(0, '127.0.0.1');
  await once(tcp, 'listening');
  t.teardown(() => new Promise<void>((r) => broker.close(() => tcp.close(() => r()))));
  const bareUrl = `mqtt://127.0.0.1:${(tcp.address() as AddressInfo).port}`;
  const peer = await connectAsync(bareUrl, { protocolVersion: 4 });
  t.teardown(() => peer.endAsync());
  const gw = await makeAgent({ station, server, clock, mqttUrl: bareUrl });
  await gw.agent.start();
  t.teardown(() => gw.agent.stop());
  await gw.waitFor('subscribed');
  const device = gw.agent.identity().device;
  const reports: Envelope[] = [];
  await peer.subscribeAsync(reportTopic(device), { qos: 1 });
  peer.on('message', (topic, payload) => topic === reportTopic(device) && reports.push(JSON.parse(payload.toString())));
  const untilReports = (done: () => boolean) => untilEvent(peer, 'message', async () => done());
  return { gw, peer, device, reports, untilReports };
}

t.test('a PUBACK keeps the proofs on disk; only the server-signed receipt removes them, and only what it lists', async (t) => {
  const station = first as string;
  const { gw, peer, device, reports: sent, untilReports } = await bareGateway(t, station);
  const reports = () => sent.map((r) => r.id);

  const at = clock.now() + 10_000;
  await peer.publishAsync(manifestTopic(device), manifest(station, 1, [entry('occ-r1', at)]), { qos: 1, retain: true });
  await gw.waitFor('cached');
  clock.advanceTo(at);
  await gw.waitFor('finished', (e) => e.occurrenceId === 'occ-r1');
  await untilReports(() => reports().length >= 2);
  t.equal(outbox(gw.dataDir), 2, 'both proofs PUBACKed by the broker, both still in the outbox');

  const [started, completed] = [...new Set(reports())] as [string, string];
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
  const times = () => reports().filter((id) => id === completed).length;
  const before = times();
  clock.advance(2000);
  await untilReports(() => times() > before);
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

t.test('once a receipt offers batches, the outbox goes out as one signed batch; each report keeps its id until receipted', async (t) => {
  const station = third as string;
  const { gw, peer, device, reports: messages, untilReports: until } = await bareGateway(t, station);
  const singles = () => new Map(messages.filter((m) => m.type === 'report').map((m) => [m.id, m]));

  const at = clock.now() + 10_000;
  await peer.publishAsync(manifestTopic(device), manifest(station, 1, [entry('occ-b1', at), entry('occ-b2', at + 5000)]), {
    qos: 1,
    retain: true,
  });
  await gw.waitFor('cached');
  clock.advanceTo(at);
  await gw.waitFor('finished', (e) => e.occurrenceId === 'occ-b1');
  clock.advanceTo(at + 5000);
  await gw.waitFor('finished', (e) => e.occurrenceId === 'occ-b2');
  await until(() => singles().size >= 4);
  t.notOk(
    messages.some((m) => m.type === 'report-batch'),
    'no batch before the server has said it takes them',
  );
  const [firstId, ...rest] = [...singles().keys()] as [string, ...string[]];
  t.equal(outbox(gw.dataDir), 4);

  const offer = seal('receipt', { station, stored: [firstId], refused: [], batchReports: 500 }, server.key.signer, {
    now: clock.date(),
    ttlMs: 3600_000,
  });
  await peer.publishAsync(receiptTopic(device), JSON.stringify(offer), { qos: 1 });
  await gw.waitFor('delivered', (e) => e.id === firstId);
  clock.advance(2000);
  await until(() => messages.some((m) => m.type === 'report-batch'));
  const batches = messages.filter((m) => m.type === 'report-batch');
  t.equal(batches.length, 1, 'the three reports left went out as one message');
  const { publicKeyHex } = await server.db.device.findUniqueOrThrow({ where: { code: device }, select: { publicKeyHex: true } });
  const key = publicKeyFromHex(publicKeyHex as string);
  const opened = open(JSON.stringify(batches[0]), 'report-batch', { keys: () => key, now: clock.date() });
  if (!opened.ok) throw new Error(`the batch does not verify: ${opened.code} ${opened.message}`);
  t.same(opened.body.reports.map((r) => r.id).sort(), [...rest].sort(), 'it carries each unreceipted report under its outbox id');
  for (const item of opened.body.reports) t.same(item.report, singles().get(item.id)?.body, 'with the body that id was signed with alone');
  const earliest = Math.min(...rest.map((id) => Date.parse(singles().get(id)?.expiresAt as string)));
  t.ok(Date.parse(opened.envelope.expiresAt) <= earliest, 'and it expires no later than the earliest of them');

  const all = seal('receipt', { station, stored: rest, refused: [], batchReports: 500 }, server.key.signer, {
    now: clock.date(),
    ttlMs: 3600_000,
  });
  await peer.publishAsync(receiptTopic(device), JSON.stringify(all), { qos: 1 });
  await gw.waitFor('delivered', (e) => e.id === rest.at(-1));
  t.equal(outbox(gw.dataDir), 0, 'the receipt that names them empties the outbox');
});
