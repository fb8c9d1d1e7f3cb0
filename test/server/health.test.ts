// Station health: telemetry from a real agent stored, availability history with durations, alerts and
// their workflow, and bad telemetry counted and refused without a write.
import { join } from 'node:path';
import t from 'tap';
import { seal } from '#protocol';
import { onlineAgent } from '../helpers/agent.ts';
import { makeTone } from '../helpers/audio.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { matchExact } from '../helpers/match.ts';
import { enrollDevice, scheduleItem, startTestServer, untilEvent, uploadApproved } from '../helpers/server.ts';

const clock = new FakeClock(Date.now());
const server = await startTestServer({ now: clock.date });
t.teardown(() => server.stop());
const get = async (path: string) => {
  const res = await fetch(`${server.url}/api/v1${path}`, { headers: server.auth });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & { error?: { code: string } } };
};
const post = async (path: string, body: object = {}) => {
  const res = await fetch(`${server.url}/api/v1${path}`, {
    method: 'POST',
    headers: { ...server.auth, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & { error?: { code: string } } };
};

t.test('a gateway’s signed telemetry is stored; going offline and back shows as periods with durations', async (t) => {
  const station = 'HN-00031';
  const gw = await onlineAgent(t, { station, server, clock });
  const device = gw.agent.inspect().ctx.device;
  const sent = await gw.waitFor('telemetry');
  await untilEvent(server.reports.events, 'telemetry', async () =>
    Boolean((await server.db.station.findUniqueOrThrow({ where: { code: station } })).telemetryAt),
  );
  const health = await get(`/stations/${station}/health`);
  t.equal(health.status, 200);
  matchExact(t, health.body, {
    online: true,
    telemetry: {
      agentVersion: sent.body.agentVersion,
      diskFreeBytes: sent.body.diskFreeBytes,
      uptimeS: sent.body.uptimeS,
      cacheItems: sent.body.cache.items,
    },
    // From its enrollment on: the time before is not offline.
    history: [{ online: true, ongoing: true }],
  });

  // After two minutes up, the gateway drops (its last-will says offline) for ten minutes, then returns.
  clock.advance(120_000);
  const wentDown = clock.now();
  await server.reports.handleState(device, Buffer.from(JSON.stringify({ station, online: false })));
  clock.advance(600_000);
  await server.reports.handleState(device, Buffer.from(JSON.stringify({ station, online: true })));
  clock.advance(60_000);
  const after = await get(`/stations/${station}/health?from=${encodeURIComponent(new Date(wentDown - 60_000).toISOString())}`);
  matchExact(t, after.body, {
    history: [
      { online: true, durationMs: 60_000 },
      { online: false, durationMs: 600_000 },
      { online: true, durationMs: 60_000, ongoing: true },
    ],
    offlineMs: 600_000,
    uptimeRate: 0.1667,
  });
  t.match(await get('/stations/HN-NOPE/health'), { status: 404, body: { error: { code: 'UNKNOWN_STATION' } } });
});

t.test('telemetry that is forged, names another station or is not JSON is refused, counted, and writes nothing', async (t) => {
  const station = 'HN-00034';
  const gw = await onlineAgent(t, { station, server, clock });
  const device = gw.agent.inspect().ctx.device;
  await gw.waitFor('telemetry');
  const before = await server.db.station.findUniqueOrThrow({ where: { code: 'HN-00037' } });
  // The gateway's own key, as a compromised or buggy gateway would hold it.
  const { signer } = gw.agent.inspect().ctx;
  const body = {
    station: 'HN-00037',
    uptimeS: 1,
    agentVersion: 'x',
    protocolVersions: [1],
    diskFreeBytes: 1,
    cache: { items: 0, bytes: 0 },
  };
  const other = Buffer.from(JSON.stringify(seal('telemetry', body, signer, { now: clock.date(), ttlMs: 60_000 })));
  t.equal(await server.reports.handleTelemetry(device, other), 'rejected');
  t.equal(await server.reports.handleTelemetry(device, Buffer.from('{not json')), 'rejected');
  t.equal(await server.reports.handleTelemetry('no-such-device', other), 'rejected');
  t.same(await server.db.station.findUniqueOrThrow({ where: { code: 'HN-00037' } }), before);
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  matchExact(t, metrics, /loaphuong_reports_total\{result="STATION_MISMATCH"\} [1-9]/);
  matchExact(t, metrics, /loaphuong_reports_total\{result="MALFORMED"\} [1-9]/);
});

t.test('an offline station with an airing due raises one alert, which goes new → acknowledged → resolved', async (t) => {
  const station = await server.db.station.findUniqueOrThrow({ where: { code: 'HN-00040' }, include: { unit: true } });
  const { body: media } = await uploadApproved(server, makeTone(join(server.dataDir, 'health.wav'), { seconds: 1 }));
  const at = clock.now() + 60_000;
  const first = await scheduleItem(server, media.id, station.code, at);
  await scheduleItem(server, media.id, station.code, at + 60_000);
  await server.reports.sweep();
  t.match(await get('/alerts?station=HN-00040'), { body: { total: 0 } }, 'nothing is due yet');
  clock.advanceTo(at + 1000);
  await server.reports.sweep();
  await server.reports.sweep();
  clock.advance(60_000);
  await server.reports.sweep();
  const list = await get(`/alerts?station=HN-00040`);
  matchExact(
    t,
    list.body,
    { total: 1, items: [{ kind: 'offline', status: 'new', count: 1, occurrenceId: first }] },
    'not one per sweep or per airing',
  );
  const id = (list.body.items as { id: string }[])[0]?.id as string;
  t.match(await post(`/alerts/${id}/acknowledge`), { status: 200, body: { status: 'acknowledged', acknowledgedBy: 'admin' } });
  t.match(await post(`/alerts/${id}/acknowledge`), { status: 409, body: { error: { code: 'INVALID_TRANSITION' } } });
  t.match(await post(`/alerts/${id}/resolve`, { note: 'power restored at the commune office' }), {
    status: 200,
    body: { status: 'resolved', resolvedBy: 'admin', note: 'power restored at the commune office' },
  });
  t.match(await post(`/alerts/${id}/resolve`), { status: 409, body: { error: { code: 'INVALID_TRANSITION' } } });
  t.match(await post('/alerts/nope/resolve'), { status: 404, body: { error: { code: 'UNKNOWN_ALERT' } } });
  t.match(await get(`/alerts?unit=${station.unit.code}&status=resolved`), { body: { total: 1 } }, 'filtered by unit subtree');
  t.match(await get('/alerts?status=bogus'), { status: 400 });

  // Still offline when the windows close: the open alert stays one alert; a new one only after it was resolved.
  clock.advance(3600_000);
  await server.reports.sweep();
  matchExact(t, await get(`/alerts?station=HN-00040&status=new`), { body: { total: 1, items: [{ kind: 'offline', count: 1 }] } });
  t.equal(await server.db.occurrence.count({ where: { stationId: station.id, asRun: 'missed', discrepancy: 'offline' } }), 2);
});

t.test('state messages arriving together are taken in one batch, in order, each judged alone', async (t) => {
  const codes = (
    await server.db.station.findMany({ where: { code: { gt: 'HN-00200' } }, select: { code: true }, orderBy: { code: 'asc' }, take: 3 })
  ).map((s) => s.code);
  const [a, b, c] = await Promise.all(codes.map((code) => enrollDevice(server, code)));
  const online = async () =>
    (
      await server.db.station.findMany({ where: { code: { in: codes } }, select: { code: true, online: true }, orderBy: { code: 'asc' } })
    ).map((s) => `${s.code} ${s.online}`);
  t.same(
    await online(),
    codes.map((code) => `${code} false`),
    'enrolled, never connected',
  );
  const announced: string[][] = [];
  const changed = server.live.changed.bind(server.live);
  server.live.changed = (ids) => {
    announced.push([...ids]);
    changed(ids);
  };
  t.teardown(() => {
    server.live.changed = changed;
  });
  const state = (station: string, up: boolean) => Buffer.from(JSON.stringify({ station, online: up }));
  // One turn of the event loop: A comes online; B online, drops, and is back; C's message is not JSON;
  // A claims B's station; an unknown device claims C's.
  await Promise.all([
    server.reports.handleState(a.device, state(codes[0] as string, true)),
    server.reports.handleState(b.device, state(codes[1] as string, true)),
    server.reports.handleState(b.device, state(codes[1] as string, false)),
    server.reports.handleState(c.device, Buffer.from('{"station":')),
    server.reports.handleState(a.device, state(codes[1] as string, false)),
    server.reports.handleState('GW-NOBODY', state(codes[2] as string, true)),
    server.reports.handleState(b.device, state(codes[1] as string, true)),
  ]);
  t.same(await online(), [`${codes[0]} true`, `${codes[1]} true`, `${codes[2]} false`], 'the last valid state of each station stands');
  const ids = (await server.db.station.findMany({ where: { code: { in: codes.slice(0, 2) } }, select: { id: true } })).map((s) => s.id);
  t.same(
    announced.map((list) => list.sort()),
    [ids.sort()],
    'the stations that changed (A and B), announced once for the batch',
  );
  const events = await server.db.stationEvent.findMany({ where: { station: { code: codes[1] } }, select: { online: true } });
  t.same(events.map((e) => e.online).sort(), [false, true, true], "each of B's changes is in its history");
});
