// The thin path through everything: HTTP upload → ffprobe/ffmpeg → sha256 store → schedule →
// signed manifest over MQTT (real aedes) → agent fetch + hash check → playback at the scheduled
// instant (fake clock, real ffmpeg null sink) → signed report → stored → API shows "aired".
import { once } from 'node:events';
import { join } from 'node:path';
import t from 'tap';
import { makeAgent } from '../helpers/agent.ts';
import { makeTone } from '../helpers/audio.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { startTestServer, uploadApproved } from '../helpers/server.ts';

t.test('an uploaded MP3 scheduled for a station airs there and the API shows it as aired', async (t) => {
  const clock = new FakeClock(Date.now());
  const server = await startTestServer({ now: clock.date });
  t.teardown(() => server.stop());
  const station = 'HN-00004';

  const gateway = await makeAgent({ station, server, clock });
  await gateway.agent.start();
  t.teardown(() => gateway.agent.stop());

  const mp3 = makeTone(join(server.dataDir, 'bulletin.mp3'), { seconds: 2 });
  const up = await uploadApproved(server, mp3, { title: 'Bản tin thử' });
  t.equal(up.status, 201, 'upload accepted');
  t.match(up.body, { codec: 'opus', sampleRate: 48000, channels: 1, sourceFormat: 'mp3', title: 'Bản tin thử' });
  t.ok(Math.abs((up.body.durationMs as number) - 2000) < 100, `duration ≈ 2 s (${up.body.durationMs})`);

  const startsAt = new Date(clock.now() + 5 * 60_000);
  const res = await fetch(`${server.url}/api/v1/schedules`, {
    method: 'POST',
    headers: { ...server.auth, 'content-type': 'application/json' },
    body: JSON.stringify({ mediaId: up.body.id, stations: [station], startsAt: startsAt.toISOString() }),
  });
  t.equal(res.status, 201, 'schedule accepted');
  const schedule = (await res.json()) as { occurrences: { id: string }[] };
  const occurrenceId = schedule.occurrences[0].id;

  const armed = await gateway.waitFor('armed', (e) => e.occurrenceId === occurrenceId);
  t.equal(armed.at, startsAt.getTime(), 'agent armed the item for the scheduled instant');
  await gateway.waitFor('cached', (e) => e.sha256 === up.body.sha256);

  const stored: string[] = [];
  server.reports.events.on('handled', (outcome: string, kind: string) => stored.push(`${outcome}:${kind}`));
  clock.advance(60_000);
  t.equal(gateway.events.filter((e) => e.type === 'started').length, 0, 'nothing plays before its time');
  clock.advanceTo(startsAt.getTime());
  const started = await gateway.waitFor('started', (e) => e.occurrenceId === occurrenceId);
  t.equal(started.at, startsAt.getTime(), 'playback started at the scheduled instant');

  const finished = await gateway.waitFor('finished', (e) => e.occurrenceId === occurrenceId);
  t.equal(finished.report.kind, 'playback.completed');
  t.ok(Math.abs((finished.report.playedMs ?? 0) - 2000) < 100, `played the whole file (${finished.report.playedMs} ms)`);
  t.ok((finished.report.level?.rmsDbfs ?? -200) > -30, `measured a real level (${finished.report.level?.rmsDbfs} dBFS)`);

  while (!stored.includes('stored:playback.completed')) await once(server.reports.events, 'handled');
  const occ = await fetch(`${server.url}/api/v1/occurrences/${occurrenceId}`, { headers: server.auth });
  const body = (await occ.json()) as {
    status: string;
    startedAt: string;
    playedMs: number;
    reports: { kind: string; rmsDbfs: number | null }[];
  };
  t.equal(body.status, 'aired', 'the API shows the occurrence as aired');
  t.equal(body.startedAt, startsAt.toISOString());
  t.same(
    body.reports.map((r) => r.kind),
    ['started', 'completed'],
  );
  t.ok(body.reports[1].rmsDbfs !== null, 'the stored proof carries the measured level');
});
