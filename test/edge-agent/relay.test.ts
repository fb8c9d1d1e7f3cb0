// [P-5.11] Relays on the gateway, on real parts: upstream stations streaming MP3 over HTTP in real time, a real agent
// and ffmpeg. The primary dies mid-relay and the secondary is heard; the primary comes back and is taken back; the
// slot ends on time while the stream goes on; dead air and unreachable URLs fall back to the cached file. Real time:
// the agent runs on the system clock (a relay is a real stream), and the test waits on its events.
import { join } from 'node:path';
import { connectAsync } from 'mqtt';
import t from 'tap';
import { type ManifestEntry, manifestTopic } from '#protocol';
import { systemClock } from '../../edge-agent/clock.ts';
import { mediaRef, onlineAgent, signedManifest } from '../helpers/agent.ts';
import { makeTone } from '../helpers/audio.ts';
import { startTestServer, uploadApproved } from '../helpers/server.ts';
import { startUpstream } from '../helpers/upstream.ts';

const server = await startTestServer();
t.teardown(() => server.stop());
const { body: fallbackItem } = await uploadApproved(server, makeTone(join(server.dataDir, 'fallback.wav'), { seconds: 4, frequency: 330 }));
const publisher = await connectAsync(server.mqttUrl, { protocolVersion: 4, ...server.brokerLogin });
t.teardown(() => publisher.endAsync());
let version = 1_000_000;

/** Plans one relay for the gateway, starting in 1.5 s. */
async function planRelay(gw: Awaited<ReturnType<typeof onlineAgent>>, relay: NonNullable<ManifestEntry['relay']>, id: string) {
  const { device, station } = gw.agent.identity();
  const startsAt = Date.now() + 1500;
  const entry: ManifestEntry = {
    occurrenceId: id,
    startsAt: new Date(startsAt).toISOString(),
    priority: 'normal',
    media: mediaRef(fallbackItem),
    relay,
  };
  version += 1;
  const payload = signedManifest(server, { station, version, entries: [entry], now: Date.now() });
  await publisher.publishAsync(manifestTopic(device), payload, { qos: 1, retain: true });
  await gw.waitFor('manifest', (e) => e.version === version);
  return startsAt;
}

t.test('the primary dies: the secondary is heard at once; the primary back is taken back; the slot ends on time', async (t) => {
  const primary = await startUpstream({ frequency: 440 });
  const secondary = await startUpstream({ frequency: 880 });
  t.teardown(() => Promise.all([primary.kill(), secondary.kill()]));
  const gw = await onlineAgent(t, { station: 'HN-00001', server, clock: systemClock });
  const slotMs = 16_000;
  const startsAt = await planRelay(gw, { urls: [primary.url, secondary.url], slotMs, deadAirMs: 3000, recheckMs: 5000 }, 'relay-1');
  await gw.waitFor('on-air', (e) => e.occurrenceId === 'relay-1');
  await primary.kill();
  const killedAt = Date.now();
  const left = await gw.waitFor('relay', (e) => e.segment.source === 0);
  t.equal(left.segment.reason, 'STREAM_ENDED', 'the dead primary is left: its connection ended');
  t.ok((left.segment.rmsDbfs ?? -200) > -30, `the primary was heard before (${left.segment.rmsDbfs} dBFS)`);
  await primary.revive();
  const onSecondary = await gw.waitFor('relay', (e) => e.segment.source === 1);
  t.equal(onSecondary.segment.reason, 'RECHECK', 'the first URL is taken back once it carries sound again');
  t.ok(Date.parse(onSecondary.segment.startedAt) - killedAt < 2000, 'the secondary started within 2 s of the primary dying');
  t.ok((onSecondary.segment.rmsDbfs ?? -200) > -30, `the secondary was heard (${onSecondary.segment.rmsDbfs} dBFS)`);
  const done = await gw.waitFor('finished', (e) => e.occurrenceId === 'relay-1');
  const r = done.report;
  t.equal(r.kind, 'playback.completed');
  t.notOk(r.reason, 'no fallback was needed');
  const slotEnd = startsAt + slotMs;
  const endError = Date.parse(r.endedAt as string) - slotEnd;
  t.ok(Math.abs(endError) < 500, `ended ${endError} ms from the slot's end, the stream still going`);
  t.same(
    r.relay?.map((s) => [s.source, s.reason]),
    [
      [0, 'STREAM_ENDED'],
      [1, 'RECHECK'],
      [0, 'SLOT_END'],
    ],
  );
  t.equal(r.expectedMs, slotMs, 'a relay is expected to fill its slot');
});

t.test('dead air on the primary and an unreachable secondary: the fallback file airs, and the report says so', async (t) => {
  const silent = await startUpstream({ frequency: 0 });
  const gone = await startUpstream({ frequency: 440 });
  await gone.kill();
  t.teardown(() => silent.kill());
  const gw = await onlineAgent(t, { station: 'HN-00004', server, clock: systemClock });
  await planRelay(gw, { urls: [silent.url, gone.url], slotMs: 9000, deadAirMs: 2000, recheckMs: 60_000 }, 'relay-2');
  const done = await gw.waitFor('finished', (e) => e.occurrenceId === 'relay-2');
  const r = done.report;
  t.match(r, { kind: 'playback.completed', reason: 'RELAY_FALLBACK' });
  const [first, second, ...rest] = r.relay ?? [];
  t.match(first, { source: 0, reason: 'DEAD_AIR' }, 'silence counts as dead air');
  t.ok((first?.playedMs ?? 0) >= 2000 && (first?.playedMs ?? 0) < 5000, `left after ${first?.playedMs} ms of silence`);
  t.match(second, { source: 1, reason: 'STREAM_ERROR', playedMs: 0 }, 'a refused connection is a failed stream');
  t.ok(rest.length > 0 && rest.every((s) => s.source === -1), 'then the fallback file, looped until the slot ends');
  t.ok((rest[0]?.rmsDbfs ?? -200) > -30, 'the fallback was heard');
});
