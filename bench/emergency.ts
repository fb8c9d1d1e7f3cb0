// Emergency alerts, from the operator's request to the server holding a signed `playback.started` from
// every gateway of the area (simulated gateways over the embedded broker, one MQTT connection each):
// - emergency_to_air_ms_579: all of Hanoi, a prepared template (its audio already on the gateways);
// - emergency_tts_to_air_ms_579: all of Hanoi, a typed text spoken by the server's TTS first;
// - cap_to_air_ms_579: all of Hanoi, a CAP 1.2 alert posted by an upstream warning system;
// - emergency_to_air_ms_10542: the whole country (its gateways simulated in a child process).
// Exercises, so the second-person confirmation does not enter the figure (an actual alert adds that wait).
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { systemClock } from '../edge-agent/clock.ts';
import { Simulator } from '../edge-agent/simulator.ts';
import { makeTone } from '../test/helpers/audio.ts';
import { startTestServer, type TestServer, uploadApproved } from '../test/helpers/server.ts';
import { figure } from './report.ts';

async function call<T>(server: TestServer, method: string, path: string, body?: unknown, type = 'application/json'): Promise<T> {
  const res = await fetch(`${server.url}/api/v1${path}`, {
    method,
    headers: { ...server.auth, ...(body ? { 'content-type': type } : {}) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  return (await res.json()) as T;
}

async function tokensFor(server: TestServer, units: string[]): Promise<string[]> {
  const tokens: string[] = [];
  for (const unit of units)
    tokens.push(
      ...(await call<{ created: { enrollToken: string }[] }>(server, 'POST', '/devices/provision', { unit })).created.map(
        (c) => c.enrollToken,
      ),
    );
  return tokens;
}

/**
 * The alert's airings whose start the server has recorded, read every 20 ms (one indexed count), until all
 * `n` or `limitMs`; returns how many started.
 */
async function untilStarted(server: TestServer, alertId: string, n: number, limitMs: number): Promise<number> {
  const t0 = performance.now();
  const schedules = (await server.db.schedule.findMany({ where: { emergencyId: alertId }, select: { id: true } })).map((s) => s.id);
  for (;;) {
    const started = await server.db.occurrence.count({ where: { scheduleId: { in: schedules }, startedAt: { not: null } } });
    if (started >= n || performance.now() - t0 > limitMs) return started;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Raises the alert (the request given) and measures until every gateway's start proof is stored (or a minute passed). */
async function toAir(
  server: TestServer,
  n: number,
  raise: () => Promise<{ id: string }>,
): Promise<{ ms: number; started: number; request_ms: number }> {
  const t0 = performance.now();
  const { id } = await raise();
  const raisedMs = performance.now() - t0;
  const started = await untilStarted(server, id, n, 60_000);
  const ms = performance.now() - t0;
  if (started < n) console.error(`alert ${id}: ${started} of ${n} started within a minute (the request took ${Math.round(raisedMs)} ms)`);
  await call(server, 'POST', `/emergencies/${id}/cancel`);
  // The cancel's plans go out before the next alert, so its commands are not older than their manifests.
  await settle(server);
  return { ms, started, request_ms: Math.round(raisedMs) };
}

/** Waits until the server has no manifest publication pending acknowledgement for a while (the plans settled). */
async function settle(server: TestServer): Promise<void> {
  for (let quiet = 0; quiet < 5; ) {
    await new Promise((r) => setTimeout(r, 200));
    quiet = (await server.db.manifestDelivery.count({ where: { status: 'pending' } })) ? 0 : quiet + 1;
  }
}

export async function run(): Promise<void> {
  const server = await startTestServer({ env: { LP_SEED: 'hanoi-2025', LP_SEED_POLICY: 'hanoi-2021', LP_LOG_LEVEL: 'warn' } });
  let sim: Simulator | undefined;
  let child: ChildProcess | undefined;
  try {
    const { body: siren } = await uploadApproved(
      server,
      makeTone(join(server.dataDir, 'bench-siren.wav'), { seconds: 5, frequency: 1400 }),
    );
    await call(server, 'POST', '/emergency-templates', { code: 'bench-siren', title: 'Còi báo động', mediaId: siren.id });
    sim = new Simulator({ serverUrl: server.url, mqttUrl: server.mqttUrl, clock: systemClock, fetch });
    await sim.start(await tokensFor(server, ['01']), 64);
    const hanoi = sim.gateways.length;
    const area = { units: ['01'] };
    const exercise = { status: 'exercise', headline: 'Diễn tập', area };

    await settle(server);
    const template = await toAir(server, hanoi, () =>
      call(server, 'POST', '/emergencies', { ...exercise, content: { template: 'bench-siren' } }),
    );
    figure('emergency', 'emergency_to_air_ms_579', template.ms, 'ms', {
      gateways: hanoi,
      started: template.started,
      request_ms: template.request_ms,
      goal_ms: 500,
      bar_ms: 1000,
    });
    const text = 'Bão số 3 đang tiến vào đất liền. Đề nghị bà con ở trong nhà, tránh xa bờ sông.';
    const tts = await toAir(server, hanoi, () => call(server, 'POST', '/emergencies', { ...exercise, content: { text } }));
    figure('emergency', 'emergency_tts_to_air_ms_579', tts.ms, 'ms', {
      gateways: hanoi,
      started: tts.started,
      request_ms: tts.request_ms,
      goal_ms: 3000,
    });
    const cap = await toAir(server, hanoi, () => call(server, 'POST', '/emergencies/cap', capAlert(text), 'application/cap+xml'));
    figure('emergency', 'cap_to_air_ms_579', cap.ms, 'ms', { gateways: hanoi, started: cap.started });
    await sim.stop();
    sim = undefined;

    // The whole country: the 2025 map with one station per 2024 commune, every gateway in a child process.
    await call(server, 'POST', '/units/country/import', { history: true });
    const provinces = (await server.db.unit.findMany({ where: { parentId: null, endedAt: null }, select: { code: true } })).map(
      (u) => u.code,
    );
    const tokens = await tokensFor(
      server,
      provinces.filter((p) => p !== '01'),
    );
    for (const d of await server.db.device.findMany({ where: { code: { startsWith: 'HN-' } }, select: { code: true } }))
      tokens.push((await call<{ enrollToken: string }>(server, 'POST', `/devices/${d.code}/enrollment-token`)).enrollToken);
    child = fork(join(dirname(fileURLToPath(import.meta.url)), 'sim-child.ts'), { execArgv: ['--import', 'tsx'] });
    const ready = once(child, 'message');
    child.send({ serverUrl: server.url, mqttUrl: server.mqttUrl, tokens });
    const [{ ready: online }] = (await ready) as [{ ready: number }];
    await settle(server);
    const country = await toAir(server, online, () =>
      call(server, 'POST', '/emergencies', { ...exercise, area: { units: provinces }, content: { template: 'bench-siren' } }),
    );
    figure('emergency', 'emergency_to_air_ms_10542', country.ms, 'ms', {
      gateways: online,
      started: country.started,
      request_ms: country.request_ms,
      goal_ms: 2000,
      server_rss_mb: Math.round(process.memoryUsage().rss / 1048576),
    });
  } finally {
    await sim?.stop();
    if (child?.connected) {
      const exited = once(child, 'exit');
      child.send('stop');
      await exited;
    }
    await server.stop();
  }
}

/** A CAP 1.2 exercise for Hà Nội (geocode by the national unit code), its instruction to be spoken. */
function capAlert(instruction: string): string {
  const sent = new Date().toISOString().replace(/\.\d+Z$/, '+00:00');
  return `<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>bench-${Date.now()}</identifier>
  <sender>kttv@nchmf.gov.vn</sender>
  <sent>${sent}</sent>
  <status>Exercise</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <language>vi-VN</language>
    <category>Met</category>
    <event>Bão</event>
    <urgency>Immediate</urgency>
    <severity>Extreme</severity>
    <certainty>Observed</certainty>
    <headline>Bão số 3</headline>
    <instruction>${instruction}</instruction>
    <area>
      <areaDesc>Hà Nội</areaDesc>
      <geocode><valueName>VN-UNIT</valueName><value>01</value></geocode>
    </area>
  </info>
</alert>`;
}
