// The thin path through everything: HTTP upload → ffprobe/ffmpeg → sha256 store → schedule →
// signed manifest over MQTT (real aedes) → agent fetch + hash check → playback at the scheduled
// instant (fake clock, real ffmpeg null sink) → signed report → stored → API shows "aired".
import { once } from 'node:events';
import { join } from 'node:path';
import t from 'tap';
import { makeAgent } from '../helpers/agent.ts';
import { makeTone } from '../helpers/audio.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { api, signedInAs, startTestServer, uploadApproved } from '../helpers/server.ts';

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

  // The provincial office reads the compliance report; the audit log then holds the whole flow in order:
  // upload, submit, approve, schedule (requests), the airing (the gateway's proofs), the report read.
  clock.advance(60_000);
  const auditor = await signedInAs(server, 'auditor.flow', 'auditor');
  const day = { from: new Date(startsAt.getTime() - 3600_000).toISOString(), to: new Date(startsAt.getTime() + 3600_000).toISOString() };
  const report = await api(
    server,
    'GET',
    `/compliance/report?from=${encodeURIComponent(day.from)}&to=${encodeURIComponent(day.to)}`,
    undefined,
    auditor,
  );
  t.match(report, { status: 200, body: { total: { scheduled: 1, aired: 1 } } });
  const log = await api(server, 'GET', '/audit?gateways=true&limit=5000', undefined, auditor);
  type Row = { source: string; username: string | null; action: string; status: number; request: string | null; params: string | null };
  const flow = (log.body.items as Row[])
    .filter((e) => !/\/users|auth\/login/.test(e.action))
    .map((e) => `${e.source} ${e.username} ${e.action} ${e.status}`);
  t.same(
    flow,
    [
      'api admin POST /api/v1/stations/:code/devices 201',
      'api null POST /api/v1/gateway/enroll 200',
      'api admin POST /api/v1/media 201',
      'api admin POST /api/v1/media/:id/:action 200',
      'api approver.test POST /api/v1/media/:id/:action 200',
      'api admin POST /api/v1/schedules 201',
      `gateway ${station} MQTT report playback.started 200`,
      `gateway ${station} MQTT report playback.completed 200`,
      'api auditor.flow GET /api/v1/compliance/report 200',
    ],
    'upload, approve, schedule, air, report',
  );
  const proof = (log.body.items as Row[]).find((e) => e.action.endsWith('playback.completed'));
  t.match(JSON.parse(proof?.params ?? '{}'), { station, occurrenceId }, 'the airing names its occurrence');
  t.match(
    JSON.parse(proof?.request ?? '{}'),
    { body: { kind: 'playback.completed', occurrenceId }, sig: String },
    'with the signed message',
  );
  const read = (log.body.items as Row[]).find((e) => e.action.includes('compliance/report'));
  t.match(JSON.parse(read?.request ?? '{}'), { from: day.from, to: day.to }, 'the report read records what was asked');
});
