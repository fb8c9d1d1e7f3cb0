// Sync on the gateway: reconnect backoff [P-1.2], resumed and retried audio fetch [P-5.3], the cache
// budget, and telemetry with the clock offset [P-3.4]/[P-5.9]; real server, broker and files.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync } from 'mqtt';
import t from 'tap';
import { open as openEnvelope, publicKeyFromHex, telemetryTopic } from '#protocol';
import { Backoff, connectWithBackoff } from '../../edge-agent/backoff.ts';
import { AudioCache } from '../../edge-agent/cache.ts';
import type { Clock } from '../../edge-agent/clock.ts';
import { makeAgent, onlineAgent } from '../helpers/agent.ts';
import { makeTone } from '../helpers/audio.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { relogin, scheduleItem, startTestServer, uploadApproved } from '../helpers/server.ts';
import { tcpProxy } from '../helpers/tcp-proxy.ts';

const clock = new FakeClock(Date.now());
const server = await startTestServer({ now: clock.date });
t.teardown(() => server.stop());
const schedule = (mediaId: unknown, station: string, startsAt: Date) => scheduleItem(server, mediaId, station, startsAt);
/** A sequence of "random" numbers, repeated. */
const sequence = (values: number[]) => {
  let i = 0;
  return () => values[i++ % values.length];
};

t.test('backoff doubles from 1 s to 300 s, each wait jittered by a factor in [0.5, 1.5], and starts over after a success', (t) => {
  const fixed = new Backoff({ random: () => 0.5 });
  t.same(
    Array.from({ length: 11 }, () => fixed.next()),
    [1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000, 300000, 300000],
  );
  fixed.reset();
  t.equal(fixed.next(), 1000, 'reset');
  const jittered = new Backoff({ random: sequence([0, 0.999999]) });
  t.same([jittered.next(), jittered.next(), jittered.next()], [500, 3000, 2000], 'factor 0.5 and ~1.5');
  // Ten thousand gateways losing the broker together do not return together.
  const firstWaits = Array.from({ length: 10_000 }, () => new Backoff().next());
  const perSecondBucket = new Map<number, number>();
  for (const w of firstWaits) perSecondBucket.set(Math.floor(w / 100), (perSecondBucket.get(Math.floor(w / 100)) ?? 0) + 1);
  t.ok(Math.min(...firstWaits) >= 500 && Math.max(...firstWaits) <= 1500, 'first waits within 0.5–1.5 s');
  t.ok(
    Math.max(...perSecondBucket.values()) < 1500,
    `spread over 100 ms slots (largest slot ${Math.max(...perSecondBucket.values())} of 10000)`,
  );
  t.end();
});

t.test('the MQTT client waits out the backoff between reconnects and starts over once connected', async (t) => {
  const proxy = await tcpProxy(Number(new URL(server.mqttUrl).port));
  t.teardown(() => proxy.close());
  proxy.cut();
  const backoff = new Backoff({ baseMs: 20, capMs: 80, random: () => 0.5 });
  const client = connectWithBackoff(proxy.url, { protocolVersion: 4 }, backoff);
  t.teardown(() => client.endAsync(true));
  client.on('error', () => {});
  const waits: number[] = [];
  await new Promise<void>((resolve) =>
    client.on('reconnect', () => {
      waits.push(client.options.reconnectPeriod as number);
      if (waits.length === 4) resolve();
    }),
  );
  t.same(waits, [20, 40, 80, 80], 'each reconnect waited the next backoff step');
  proxy.restore();
  await new Promise((resolve) => client.once('connect', resolve));
  t.equal(backoff.attempts, 0, 'a successful connection resets the backoff');
});

t.test('a cut download resumes with Range and is hash-checked over the whole file', async (t) => {
  const { body: media } = await uploadApproved(server, makeTone(join(server.dataDir, 'resume.wav'), { seconds: 3, frequency: 500 }));
  const sha = media.sha256 as string;
  const full = Buffer.from(await (await fetch(`${server.url}/blobs/${sha}`)).arrayBuffer());
  t.equal(createHash('sha256').update(full).digest('hex'), sha);
  const dir = mkdtempSync(join(tmpdir(), 'lp-cache-'));
  const requests: { range: string | null; status: number }[] = [];
  const recording: typeof fetch = async (url, init) => {
    const res = await fetch(url, init);
    requests.push({ range: new Headers(init?.headers).get('range'), status: res.status });
    return res;
  };
  const cache = new AudioCache(dir, { fetch: recording });
  // What a transfer cut half-way leaves behind.
  const half = Math.floor(full.length / 2);
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${cache.path(sha)}.part`, full.subarray(0, half));
  await cache.ensure(sha, `${server.url}/blobs/${sha}`);
  t.same(requests, [{ range: `bytes=${half}-`, status: 206 }], 'only the rest was asked for');
  t.ok(readFileSync(cache.path(sha)).equals(full), 'the file is whole');

  // A part file that is not a prefix of the audio: the hash catches it, nothing becomes visible.
  const other = new AudioCache(mkdtempSync(join(tmpdir(), 'lp-cache-')), { fetch: recording });
  mkdirSync(join(other.path(sha), '..'), { recursive: true });
  writeFileSync(`${other.path(sha)}.part`, Buffer.alloc(half, 7));
  await t.rejects(other.ensure(sha, `${server.url}/blobs/${sha}`), { code: 'HASH_MISMATCH' });
  t.notOk(await other.has(sha), 'not visible');
  await other.ensure(sha, `${server.url}/blobs/${sha}`);
  t.equal(requests.at(-1)?.range, null, 'the retry starts from the beginning');
  t.ok(await other.has(sha));
});

t.test('over its budget the cache evicts what no entry needs, least recently used first, never what is needed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lp-cache-'));
  const cache = new AudioCache(dir, { fetch });
  const names = ['a', 'b', 'c', 'd'].map((c) => c.repeat(64));
  names.forEach((n, i) => {
    writeFileSync(cache.path(n), Buffer.alloc(1000));
    utimesSync(cache.path(n), new Date(1e12 + i * 1000), new Date(1e12 + i * 1000));
  });
  writeFileSync(`${cache.path('e'.repeat(64))}.part`, Buffer.alloc(500));
  t.same(
    await cache.evict(new Set(names), 100),
    { removed: [`${'e'.repeat(64)}.ogg.part`], bytes: 4000 },
    'over budget: the partial transfer nobody needs goes, every needed file stays',
  );
  t.equal((await cache.stats()).items, 4);
  // a (least recently used) and c are no longer needed: a goes, and then the rest fits.
  t.same(await cache.evict(new Set([names[1], names[3]]), 3000), { removed: [`${names[0]}.ogg`], bytes: 3000 });
  const stats = await cache.stats();
  t.same([stats.items, stats.bytes], [3, 3000]);
  t.ok(stats.diskFreeBytes > 0, 'disk free measured');
});

t.test('audio the server cannot give is retried with backoff on the injected clock, and fetched once the link is back', async (t) => {
  const station = 'HN-00040';
  const { body: media } = await uploadApproved(server, makeTone(join(server.dataDir, 'retry.wav'), { seconds: 1, frequency: 880 }));
  const http = await tcpProxy(Number(new URL(server.url).port));
  t.teardown(() => http.close());
  const gw = await onlineAgent(t, { station, server, clock, serverUrl: http.httpUrl, options: { random: () => 0.5 } });
  http.cut();
  const at = new Date(clock.now() + 3600_000);
  await schedule(media.id, station, at);
  const first = await gw.waitFor('fetch-failed');
  t.equal(first.retryInMs, 1000, 'first retry after 1 s');
  clock.advance(1000);
  const second = await gw.waitFor('fetch-failed', (e) => e !== first);
  t.equal(second.retryInMs, 2000, 'then 2 s');
  http.restore();
  clock.advance(2000);
  const cached = await gw.waitFor('cached', (e) => e.sha256 === media.sha256);
  t.ok(cached, 'fetched after the link returned');
});

t.test('only audio within the prefetch horizon is fetched ahead; telemetry says what is missing', async (t) => {
  const station = 'HN-00043';
  const { body: near } = await uploadApproved(server, makeTone(join(server.dataDir, 'near.wav'), { seconds: 1, frequency: 300 }));
  const { body: far } = await uploadApproved(server, makeTone(join(server.dataDir, 'far.wav'), { seconds: 1, frequency: 310 }));
  const gw = await onlineAgent(t, { station, server, clock, options: { prefetchHorizonMs: 86_400_000 } });
  await schedule(near.id, station, new Date(clock.now() + 3600_000));
  await gw.waitFor('cached', (e) => e.sha256 === near.sha256);
  const farAt = clock.now() + 3 * 86_400_000;
  await schedule(far.id, station, new Date(farAt));
  await gw.waitFor('manifest', (e) => e.entries === 2);
  t.notOk(
    gw.events.some((e) => e.type === 'cached' && e.sha256 === far.sha256),
    'the item three days out is not fetched yet',
  );
  clock.advanceTo(farAt - 86_400_000 + 60_000);
  await gw.waitFor('cached', (e) => e.sha256 === far.sha256);
});

t.test(
  'telemetry is signed and carries uptime, cache, disk, manifest version, what plays, and the clock offset from the server',
  async (t) => {
    const station = 'HN-00046';
    await relogin(server); // the horizon test moved the clock days on
    // This gateway's clock runs 2.5 s behind the server's.
    const behind: Clock = { now: () => clock.now() - 2500, at: (at, fn) => clock.at(at + 2500, fn) };
    const gw = await makeAgent({ station, server, clock: behind as FakeClock });
    const watcher = await connectAsync(server.mqttUrl, { protocolVersion: 4 });
    t.teardown(() => watcher.endAsync());
    const received: { payload: Buffer; at: Date }[] = [];
    await gw.agent.start();
    t.teardown(() => gw.agent.stop());
    const { device } = gw.agent.identity();
    await watcher.subscribeAsync(telemetryTopic(device));
    watcher.on('message', (_topic, payload) => received.push({ payload, at: new Date(behind.now()) }));
    const { body: media } = await uploadApproved(server, makeTone(join(server.dataDir, 'tele.wav'), { seconds: 1, frequency: 320 }));
    const at = new Date(clock.now() + 120_000);
    const occ = await schedule(media.id, station, at);
    await gw.waitFor('cached', (e) => e.sha256 === media.sha256);
    clock.advance(60_000);
    const beat = await gw.waitFor('telemetry', (e) => e.body.manifestVersion !== undefined && e.body.cache.items === 1);
    t.match(beat.body, { station, agentVersion: '0.1.0', clockOffsetMs: 2500, cache: { items: 1, missing: 0 } });
    t.ok(beat.body.uptimeS >= 60, `uptime ${beat.body.uptimeS} s`);
    t.ok(beat.body.diskFreeBytes > 0);
    // The gateway airs by its own clock: when it reads `at`, the server's reads at + 2.5 s.
    clock.advanceTo(at.getTime() + 2500);
    const playing = await gw.waitFor('telemetry', (e) => e.body.nowPlaying?.occurrenceId === occ);
    t.equal(playing.body.nowPlaying?.since, at.toISOString(), 'since, on the gateway clock');
    await gw.waitFor('finished', (e) => e.occurrenceId === occ);
    // What went over the wire is the signed envelope; the device key from enrollment opens it.
    const row = await server.db.device.findUniqueOrThrow({ where: { code: device } });
    const key = publicKeyFromHex(row.publicKeyHex as string);
    // Each checked as of its arrival: telemetry lives 120 s.
    const opened = received.map((r) => openEnvelope(r.payload, 'telemetry', { keys: () => key, now: r.at }));
    t.ok(opened.length >= 2 && opened.every((o) => o.ok), `${opened.length} telemetry messages verified`);
  },
);
