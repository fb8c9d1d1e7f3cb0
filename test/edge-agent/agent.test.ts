// Agent behaviour against the real server and broker, on a fake clock.
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { connectAsync } from 'mqtt';
import t from 'tap';
import { ackTopic, type Manifest, manifestTopic, seal } from '#protocol';
import { AudioCache } from '../../edge-agent/cache.ts';
import { manifestEntry as entryOf, makeAgent, onlineAgent, signedManifest } from '../helpers/agent.ts';
import { makeTone } from '../helpers/audio.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { matchExact } from '../helpers/match.ts';
import { scheduleItem, sendCommand, startTestServer, uploadApproved } from '../helpers/server.ts';
import { tcpProxy } from '../helpers/tcp-proxy.ts';

const clock = new FakeClock(Date.now());
const server = await startTestServer({ now: clock.date });
t.teardown(() => server.stop());
const schedule = (mediaId: unknown, station: string, startsAt: Date, extra: object = {}) =>
  scheduleItem(server, mediaId, station, startsAt, extra);

/** Signs a manifest with the server's key and publishes it to the device topic directly, bypassing the scheduler's own checks. */
const publishManifest = async (station: string, body: Omit<Manifest, 'station' | 'generatedAt'>) => {
  const manifest = seal('manifest', { station, generatedAt: clock.date().toISOString(), ...body }, server.key.signer, {
    now: clock.date(),
    ttlMs: 3600_000,
  });
  const publisher = await connectAsync(server.mqttUrl, { protocolVersion: 4, ...server.brokerLogin });
  await publisher.publishAsync(manifestTopic(station), JSON.stringify(manifest), { qos: 1 });
  await publisher.endAsync();
};

t.test('a manifest signed by anyone but the server is rejected and nothing is armed', async (t) => {
  const station = 'HN-00007';
  const gw = await makeAgent({ station, server, clock });
  await gw.agent.start();
  t.teardown(() => gw.agent.stop());
  const rogue = generateKeyPairSync('ed25519');
  const forged = seal(
    'manifest',
    {
      station,
      version: 99,
      generatedAt: clock.date().toISOString(),
      horizonUntil: new Date(clock.now() + 86_400_000).toISOString(),
      entries: [
        {
          occurrenceId: 'evil',
          startsAt: new Date(clock.now() + 60_000).toISOString(),
          priority: 'emergency',
          media: { sha256: 'f'.repeat(64), path: '/blobs/x', durationMs: 1000, sizeBytes: 10, codec: 'opus' },
        },
      ],
    },
    // Same key id as the server, different key: only the signature can tell.
    { kid: server.key.signer.kid, privateKey: rogue.privateKey, nextSeq: () => Number.MAX_SAFE_INTEGER },
    { now: clock.date(), ttlMs: 3600_000 },
  );
  // Past the broker's access control (the server's own login: a compromised broker path); only signatures remain.
  const attacker = await connectAsync(server.mqttUrl, { protocolVersion: 4, ...server.brokerLogin });
  await attacker.publishAsync(manifestTopic(station), JSON.stringify(forged), { qos: 1, retain: true });
  await attacker.endAsync();
  const rejected = await gw.waitFor('rejected');
  t.equal(rejected.code, 'BAD_SIGNATURE');
  t.notOk(
    gw.events.some((e) => e.type === 'armed'),
    'nothing armed',
  );
});

t.test('a replayed, expired or tampered manifest is refused and the plan in force stays', async (t) => {
  const station = 'HN-00052';
  const gw = await onlineAgent(t, { station, server, clock });
  const { device } = gw.agent.identity();
  const media = { sha256: 'a'.repeat(64), durationMs: 1000, sizeBytes: 10 };
  const signed = (version: number, opts: { issuedAt?: number } = {}) =>
    signedManifest(server, {
      station,
      version,
      entries: [entryOf(media, `occ-v${version}`, clock.now() + 3600_000)],
      now: clock.now(),
      ...opts,
    });
  const publisher = await connectAsync(server.mqttUrl, { protocolVersion: 4, ...server.brokerLogin });
  t.teardown(() => publisher.endAsync());
  const send = (payload: string) => publisher.publishAsync(manifestTopic(device), payload, { qos: 1 });
  const rejections = () => gw.events.filter((e) => e.type === 'rejected').length;

  const v1 = signed(1000);
  await send(v1);
  await gw.waitFor('manifest', (e) => e.version === 1000);
  await send(signed(1001));
  await gw.waitFor('manifest', (e) => e.version === 1001);

  await send(v1);
  t.equal((await gw.waitFor('rejected', () => rejections() === 1)).code, 'REPLAYED', 'an older manifest sent again');
  await send(signed(1002, { issuedAt: clock.now() - 2 * 3600_000 }));
  t.equal((await gw.waitFor('rejected', () => rejections() === 2)).code, 'EXPIRED', 'past its lifetime');
  const tampered = JSON.parse(signed(1003)) as { body: { entries: { startsAt: string }[] } };
  tampered.body.entries[0].startsAt = new Date(clock.now() + 60_000).toISOString();
  await send(JSON.stringify(tampered));
  t.equal((await gw.waitFor('rejected', () => rejections() === 3)).code, 'BAD_SIGNATURE', 'one field changed after signing');

  const versions = gw.events.filter((e) => e.type === 'manifest').map((e) => (e as { version: number }).version);
  t.same(
    versions.filter((v) => v >= 1000),
    [1000, 1001],
    "only the genuine, fresh manifests were applied (after the server's own at enrollment)",
  );
  const armed = gw.events.filter((e) => e.type === 'armed').map((e) => (e as { occurrenceId: string }).occurrenceId);
  t.equal(armed.at(-1), 'occ-v1001', 'the plan in force is still v1001');
});

t.test('after a restart the agent re-arms its stored plan without the network, and never airs an item twice', async (t) => {
  const station = 'HN-00010';
  const { body: media } = await uploadApproved(server, makeTone(join(server.dataDir, 'restart.wav'), { seconds: 1, frequency: 660 }));
  const first = await makeAgent({ station, server, clock });
  await first.agent.start();
  const t1 = new Date(clock.now() + 10 * 60_000);
  const t2 = new Date(clock.now() + 20 * 60_000);
  const occ1 = await schedule(media.id, station, t1);
  await first.waitFor('armed', (e) => e.occurrenceId === occ1);
  const occ2 = await schedule(media.id, station, t2);
  await first.waitFor('armed', (e) => e.occurrenceId === occ2);
  await first.waitFor('cached');
  clock.advanceTo(t1.getTime());
  await first.waitFor('finished', (e) => e.occurrenceId === occ1);
  await first.agent.stop();

  // Same disk, server unreachable: the stored plan and pinned key are enough.
  const second = await makeAgent({
    station,
    server,
    serverUrl: 'http://127.0.0.1:9',
    mqttUrl: 'mqtt://127.0.0.1:9',
    clock,
    dataDir: first.dataDir,
  });
  await second.agent.start();
  t.teardown(() => second.agent.stop());
  const armed = second.events.filter((e) => e.type === 'armed').map((e) => (e as { occurrenceId: string }).occurrenceId);
  t.same(armed, [occ2], 'only the item not yet aired is armed again');
  clock.advanceTo(t2.getTime());
  const done = await second.waitFor('finished', (e) => e.occurrenceId === occ2);
  t.equal(done.report.kind, 'playback.completed', 'aired from the cache while offline');
});

t.test('the retained manifest met again after a restart is acknowledged again, since the first ack may never have arrived', async (t) => {
  const station = 'HN-00058';
  const spy = await connectAsync(server.mqttUrl, { protocolVersion: 4 });
  t.teardown(() => spy.endAsync());
  const acks: { version: number; status: string }[] = [];
  spy.on('message', (_topic, payload) => acks.push(JSON.parse(payload.toString()).body));
  await spy.subscribeAsync(ackTopic(station), { qos: 1 });
  const first = await onlineAgent(t, { station, server, clock });
  const applied = await first.waitFor('manifest');
  await first.agent.stop();
  const second = await onlineAgent(t, { station, server, clock, dataDir: first.dataDir });
  // The spy subscribed before either agent, and the broker delivers in order: two acks once the second is seen.
  await new Promise<void>((resolve) => {
    const check = () => (acks.length >= 2 ? resolve() : spy.once('message', check));
    check();
  });
  t.same(
    acks.map((a) => [a.version, a.status]),
    [
      [applied.version, 'applied'],
      [applied.version, 'applied'],
    ],
  );
  t.notOk(
    second.events.some((e) => e.type === 'manifest'),
    'the manifest was not applied twice',
  );
});

t.test('an item whose audio cannot be had at airtime is reported as failed with FILE_MISSING', async (t) => {
  const station = 'HN-00013';
  const { body: media } = await uploadApproved(server, makeTone(join(server.dataDir, 'missing.wav'), { seconds: 1, frequency: 770 }));
  const gw = await makeAgent({ station, server, clock });
  await gw.agent.start();
  t.teardown(() => gw.agent.stop());
  const at = new Date(clock.now() + 60_000);
  const occ = await schedule(media.id, station, at);
  await gw.waitFor('cached');
  const { rm } = await import('node:fs/promises');
  // Gone from the gateway's cache and from the server: the retry at airtime cannot help either.
  await rm(join(gw.dataDir, 'cache', `${media.sha256}.ogg`));
  await rm(join(server.dataDir, 'blobs', `${media.sha256}.ogg`));
  clock.advanceTo(at.getTime());
  const done = await gw.waitFor('finished', (e) => e.occurrenceId === occ);
  t.match(done.report, { kind: 'playback.failed', reason: 'FILE_MISSING', playedMs: 0 });
});

t.test('the cache refuses audio whose hash does not match', async (t) => {
  const cache = new AudioCache(join(server.dataDir, 'agent-cache-test'), {
    fetch: async () => new Response('tampered audio bytes'),
  });
  await t.rejects(cache.ensure('a'.repeat(64), 'http://x/blobs/a'), { code: 'HASH_MISMATCH' });
  t.equal(await cache.has('a'.repeat(64)), false, 'nothing kept');
});

t.test('an item due before its prefetch finished is fetched at airtime and airs', async (t) => {
  const station = 'HN-00016';
  const { body: media } = await uploadApproved(server, makeTone(join(server.dataDir, 'due-now.wav'), { seconds: 1, frequency: 880 }));
  const gw = await makeAgent({ station, server, clock });
  await gw.agent.start();
  t.teardown(() => gw.agent.stop());
  const occ = await schedule(media.id, station, clock.date());
  const done = await gw.waitFor('finished', (e) => e.occurrenceId === occ);
  t.equal(done.report.kind, 'playback.completed');
  t.ok((done.report.playedMs ?? 0) > 900);
});

t.test('a manifest entry past its validUntil never airs, even when the server says so', async (t) => {
  const station = 'HN-00028';
  const { body: media } = await uploadApproved(server, makeTone(join(server.dataDir, 'stale.wav'), { seconds: 1, frequency: 990 }));
  const gw = await onlineAgent(t, { station, server, clock });
  const at = clock.now() + 60_000;
  await publishManifest(station, {
    version: 1_000_000,
    horizonUntil: new Date(at + 86_400_000).toISOString(),
    entries: [{ ...entryOf(media, 'stale-1', at), validUntil: new Date(at + 500).toISOString() }],
  });
  await gw.waitFor('armed', (e) => e.occurrenceId === 'stale-1');
  clock.advanceTo(at);
  const done = await gw.waitFor('finished', (e) => e.occurrenceId === 'stale-1');
  t.match(done.report, { kind: 'playback.failed', reason: 'EXPIRED_ITEM', playedMs: 0 });
});

t.test(
  'an emergency preempts a normal item mid-play; the normal one is reported preempted, then a hard-start item meeting it is skipped',
  async (t) => {
    const station = 'HN-00031';
    const { body: long } = await uploadApproved(server, makeTone(join(server.dataDir, 'long.wav'), { seconds: 6, frequency: 440 }));
    const { body: alert } = await uploadApproved(server, makeTone(join(server.dataDir, 'alert.wav'), { seconds: 1, frequency: 1200 }));
    const gw = await makeAgent({ station, server, clock });
    await gw.agent.start();
    t.teardown(() => gw.agent.stop());
    const at = clock.now() + 60_000;
    const normal = await schedule(long.id, station, new Date(at));
    const emergency = await schedule(alert.id, station, new Date(at + 1000), { priority: 'emergency' });
    const clash = await schedule(alert.id, station, new Date(at + 1500));
    await gw.waitFor('armed', (e) => e.occurrenceId === clash);
    await gw.waitFor('cached', (e) => e.sha256 === alert.sha256);
    clock.advanceTo(at);
    await gw.waitFor('started', (e) => e.occurrenceId === normal);
    clock.advanceTo(at + 1000);
    const cut = await gw.waitFor('finished', (e) => e.occurrenceId === normal);
    t.match(cut.report, { kind: 'playback.completed', reason: 'PREEMPTED' });
    t.ok((cut.report.playedMs ?? 0) < (long.durationMs as number), 'it did not play in full');
    await gw.waitFor('started', (e) => e.occurrenceId === emergency);
    clock.advanceTo(at + 1500);
    const skipped = await gw.waitFor('finished', (e) => e.occurrenceId === clash);
    t.match(
      skipped.report,
      { kind: 'playback.failed', reason: 'CONFLICT', playedMs: 0 },
      'a normal hard-start item does not interrupt an emergency',
    );
    const aired = await gw.waitFor('finished', (e) => e.occurrenceId === emergency);
    t.equal(aired.report.kind, 'playback.completed');
    t.notOk(aired.report.reason);
  },
);

t.test(
  'a gateway with several zones plays an entry on the zones it names, each at its own level, and refuses one naming none of its own',
  async (t) => {
    const station = 'HN-00055';
    const { body: media } = await uploadApproved(
      server,
      makeTone(join(server.dataDir, 'zones.wav'), { seconds: 1, frequency: 770, amplitude: 0.5 }),
    );
    const gw = await onlineAgent(t, { station, server, clock, zones: ['market', 'school', 'gate'] });
    const at = clock.now() + 60_000;
    await publishManifest(station, {
      version: 3_000_000,
      horizonUntil: new Date(at + 86_400_000).toISOString(),
      entries: [
        { ...entryOf(media, 'two-zones', at), zones: ['market', 'school'] },
        { ...entryOf(media, 'all-zones', at + 5000) },
        { ...entryOf(media, 'elsewhere', at + 10_000), zones: ['z9'] },
      ],
    });
    await gw.waitFor('armed', (e) => e.occurrenceId === 'elsewhere');
    await gw.waitFor('cached');
    // The school zone at half: 6 dB under the market, measured after each zone's own volume.
    t.match((await sendCommand(server, station, { action: 'volume', zone: 'school', level: 50 })).body, { ok: true });
    clock.advanceTo(at);
    const two = await gw.waitFor('finished', (e) => e.occurrenceId === 'two-zones');
    matchExact(t, two.report, { kind: 'playback.completed', zones: ['market', 'school'] });
    const level = Object.fromEntries((two.report.zoneLevels ?? []).map((z) => [z.zone, z.rmsDbfs]));
    t.same(Object.keys(level), ['market', 'school'], 'measured on the zones it played, not the gate');
    t.ok(Math.abs((level.market ?? 0) - (level.school ?? 0) - 6.02) < 0.2, `market ${level.market}, school ${level.school}`);
    t.equal(two.report.level?.rmsDbfs, level.market, 'the level summary is the loudest zone');
    clock.advanceTo(at + 5000);
    const all = await gw.waitFor('finished', (e) => e.occurrenceId === 'all-zones');
    t.same(all.report.zones, ['market', 'school', 'gate'], 'an entry naming no zone plays on all of them');
    clock.advanceTo(at + 10_000);
    const none = await gw.waitFor('finished', (e) => e.occurrenceId === 'elsewhere');
    t.match(none.report, { kind: 'playback.failed', reason: 'UNKNOWN_ZONE', playedMs: 0 });
    // A stop for one zone of several silences that zone only; the item goes on and completes elsewhere.
    const { body: long } = await uploadApproved(
      server,
      makeTone(join(server.dataDir, 'zones-long.wav'), { seconds: 3, frequency: 660, amplitude: 0.5 }),
    );
    await publishManifest(station, {
      version: 3_000_001,
      horizonUntil: new Date(at + 86_400_000).toISOString(),
      entries: [entryOf(long, 'zone-stop', at + 15_000)],
    });
    await gw.waitFor('armed', (e) => e.occurrenceId === 'zone-stop');
    await gw.waitFor('cached', (e) => e.sha256 === long.sha256);
    clock.advanceTo(at + 15_000);
    await gw.waitFor('started', (e) => e.occurrenceId === 'zone-stop');
    t.match((await sendCommand(server, station, { action: 'stop', zone: 'gate' })).body, {
      ok: true,
      result: { stopped: 'zone-stop', zone: 'gate' },
    });
    const rest = await gw.waitFor('finished', (e) => e.occurrenceId === 'zone-stop');
    t.match(rest.report, { kind: 'playback.completed' });
    t.notOk(rest.report.reason, 'the other zones played it in full');
    const after = Object.fromEntries((rest.report.zoneLevels ?? []).map((z) => [z.zone, z.rmsDbfs]));
    t.ok((after.market ?? 0) - (after.gate ?? 0) > 3, `the gate went quiet (market ${after.market}, gate ${after.gate})`);
    t.match(await sendCommand(server, station, { action: 'volume', zone: 'z9', level: 10 }), {
      status: 422,
      body: { error: { code: 'DEVICE_REFUSED', details: { reply: { ok: false, error: { code: 'UNKNOWN_ZONE' } } } } },
    });
  },
);

t.test('quiet hours hold on the gateway even when its manifest says otherwise; emergencies still air', async (t) => {
  const station = 'HN-00034';
  const { body: media } = await uploadApproved(server, makeTone(join(server.dataDir, 'quiet.wav'), { seconds: 1, frequency: 550 }));
  const gw = await onlineAgent(t, { station, server, clock });
  const at = clock.now() + 60_000;
  // A quiet range around `at` in Hanoi time, whatever the hour the test runs.
  const hm = (ms: number) => new Date(ms + 7 * 3600_000).toISOString().slice(11, 16);
  await publishManifest(station, {
    version: 2_000_000,
    horizonUntil: new Date(at + 86_400_000).toISOString(),
    policy: { timeZone: 'Asia/Ho_Chi_Minh', quietHours: [{ start: hm(at - 3600_000), end: hm(at + 3600_000) }], maxVolume: [] },
    entries: [entryOf(media, 'relay-0315', at), entryOf(media, 'flood-alert', at + 5000, 'emergency')],
  });
  await gw.waitFor('armed', (e) => e.occurrenceId === 'flood-alert');
  await gw.waitFor('cached');
  clock.advanceTo(at);
  const refused = await gw.waitFor('finished', (e) => e.occurrenceId === 'relay-0315');
  t.match(refused.report, { kind: 'playback.failed', reason: 'QUIET_HOURS', playedMs: 0 });
  clock.advanceTo(at + 5000);
  const alert = await gw.waitFor('finished', (e) => e.occurrenceId === 'flood-alert');
  t.equal(alert.report.kind, 'playback.completed');
});

t.test(
  'with the broker unreachable for the whole broadcast the item airs, and its proofs arrive after reconnect and a restart, none lost, none doubled',
  async (t) => {
    const station = 'HN-00037';
    const { body: media } = await uploadApproved(server, makeTone(join(server.dataDir, 'outage.wav'), { seconds: 1, frequency: 660 }));
    const proxy = await tcpProxy(Number(new URL(server.mqttUrl).port));
    t.teardown(() => proxy.close());
    const first = await makeAgent({ station, server, clock, mqttUrl: proxy.url });
    await first.agent.start();
    await first.waitFor('subscribed');
    const at = new Date(clock.now() + 60_000);
    const occ = await schedule(media.id, station, at);
    await first.waitFor('armed', (e) => e.occurrenceId === occ);
    await first.waitFor('cached');

    proxy.cut();
    clock.advanceTo(at.getTime());
    const done = await first.waitFor('finished', (e) => e.occurrenceId === occ);
    t.equal(done.report.kind, 'playback.completed', 'aired with the network down');
    const { readdirSync } = await import('node:fs');
    t.equal(readdirSync(join(first.dataDir, 'outbox')).filter((f) => f.endsWith('.json')).length, 2, 'both proofs wait on disk');
    await first.agent.stop();

    // The gateway restarts (say, after a power cut), then the network returns.
    proxy.restore();
    const second = await makeAgent({ station, server, clock, mqttUrl: proxy.url, dataDir: first.dataDir });
    const stored = new Promise<void>((resolve) => {
      let n = 0;
      const on = (outcome: string) => {
        if (outcome === 'stored' && ++n === 2) {
          server.reports.events.off('handled', on);
          resolve();
        }
      };
      server.reports.events.on('handled', on);
    });
    await second.agent.start();
    t.teardown(() => second.agent.stop());
    await second.waitFor('delivered');
    await stored;
    await second.waitFor('delivered', (e) => second.events.filter((x) => x.type === 'delivered').length === 2 || e.id === '');
    t.equal(
      readdirSync(join(first.dataDir, 'outbox')).filter((f) => f.endsWith('.json')).length,
      0,
      'the outbox is empty once acknowledged',
    );
    const occurrence = await server.db.occurrence.findUniqueOrThrow({ where: { id: occ }, include: { reports: true } });
    t.equal(occurrence.status, 'aired');
    t.equal(occurrence.reports.length, 2, 'started and completed, once each');
  },
);
