// Emergency alerts, from the operator's request to the server holding a signed `playback.started` from
// every gateway of the area (simulated gateways over the embedded broker, one MQTT connection each):
// - emergency_to_air_ms_579: all of Hanoi, a prepared template (its audio already on the gateways);
// - emergency_tts_to_air_ms_579: all of Hanoi, a typed text spoken by the server's TTS first;
// - cap_to_air_ms_579: all of Hanoi, a CAP 1.2 alert posted by an upstream warning system;
// - emergency_to_air_ms_10542: the whole country (its gateways simulated in a child process).
// Actual alerts: timed from the second person's confirming request (the press that puts it on the air), and
// the CAP alert from its POST (signed by a trusted agency, its signature stands for the second person).
// The gateways run in a child process, as real ones run elsewhere.
import { type ChildProcess, fork } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTone } from '../test/helpers/audio.ts';
import { signCap } from '../test/helpers/cap.ts';
import { startTestServer, type TestServer, uploadApproved } from '../test/helpers/server.ts';
import { figure } from './report.ts';

async function call<T>(
  server: Pick<TestServer, 'url' | 'token'>,
  method: string,
  path: string,
  body?: unknown,
  type = 'application/json',
  token = server.token,
): Promise<T> {
  const res = await fetch(`${server.url}/api/v1${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': type } : {}) },
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

/**
 * Prepares the alert (`prepare`, not timed: a pending alert raised by the first person), then times from
 * `send` (the request that puts it on the air) until every gateway's start proof is stored, or a minute.
 */
async function toAir(
  server: TestServer,
  n: number,
  prepare: () => Promise<{ id?: string; send: () => Promise<unknown> }>,
): Promise<{ ms: number; started: number; request_ms: number }> {
  const { send } = await prepare();
  const t0 = performance.now();
  const { id } = (await send()) as { id: string };
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

/** Gateways simulated in a child process (as real gateways are elsewhere, the server's loop is its own). */
async function simulate(server: TestServer, tokens: string[]): Promise<{ child: ChildProcess; online: number }> {
  const child = fork(join(dirname(fileURLToPath(import.meta.url)), 'sim-child.ts'), { execArgv: ['--import', 'tsx'] });
  const ready = once(child, 'message');
  child.send({ serverUrl: server.url, mqttUrl: server.mqttUrl, tokens });
  const [{ ready: online }] = (await ready) as [{ ready: number }];
  await settle(server);
  return { child, online };
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child?.connected) return;
  const exited = once(child, 'exit');
  child.send('stop');
  await exited;
}

export async function run(): Promise<void> {
  // A warning agency's signing key, trusted by the server for its CAP alerts.
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const sendersFile = join(mkdtempSync(join(tmpdir(), 'lp-bench-cap-')), 'senders.json');
  writeFileSync(sendersFile, JSON.stringify({ 'kttv@nchmf.gov.vn': publicKey.export({ type: 'spki', format: 'pem' }) }));
  const server = await startTestServer({
    env: { LP_SEED: 'hanoi-2025', LP_SEED_POLICY: 'hanoi-2021', LP_LOG_LEVEL: 'warn', LP_CAP_SENDERS_FILE: sendersFile },
  });
  let child: ChildProcess | undefined;
  try {
    const { body: siren } = await uploadApproved(
      server,
      makeTone(join(server.dataDir, 'bench-siren.wav'), { seconds: 5, frequency: 1400 }),
    );
    await call(server, 'POST', '/emergency-templates', { code: 'bench-siren', title: 'Còi báo động', mediaId: siren.id });
    // The second person who confirms an actual alert raised by the first (the admin).
    await call(server, 'POST', '/users', { username: 'bench.second', password: 'a-long-password-1', role: 'province_admin' });
    const second = (
      await call<{ token: string }>({ ...server, token: '' }, 'POST', '/auth/login', {
        username: 'bench.second',
        password: 'a-long-password-1',
      })
    ).token;
    const sim = await simulate(server, await tokensFor(server, ['01']));
    child = sim.child;
    const hanoi = sim.online;
    const actual = (area: object) => ({ status: 'actual', headline: 'Bão số 3', area });
    // An actual alert for the city waits for the second person: the clock runs from the confirming request.
    const confirmed = (body: object) => async () => {
      const raised = await call<{ id: string }>(server, 'POST', '/emergencies', body);
      return {
        id: raised.id,
        send: () => call(server, 'POST', `/emergencies/${raised.id}/confirm`, undefined, 'application/json', second),
      };
    };

    const template = await toAir(server, hanoi, confirmed({ ...actual({ units: ['01'] }), content: { template: 'bench-siren' } }));
    figure('emergency', 'emergency_to_air_ms_579', template.ms, 'ms', {
      gateways: hanoi,
      started: template.started,
      request_ms: template.request_ms,
      goal_ms: 500,
      bar_ms: 1000,
    });
    const text = 'Bão số 3 đang tiến vào đất liền. Đề nghị bà con ở trong nhà, tránh xa bờ sông.';
    // Typed words: timed from the first request (the speech is made then), the confirmation right after it.
    const tts = await toAir(server, hanoi, async () => ({
      send: async () => {
        const raised = await call<{ id: string }>(server, 'POST', '/emergencies', { ...actual({ units: ['01'] }), content: { text } });
        return call(server, 'POST', `/emergencies/${raised.id}/confirm`, undefined, 'application/json', second);
      },
    }));
    figure('emergency', 'emergency_tts_to_air_ms_579', tts.ms, 'ms', {
      gateways: hanoi,
      started: tts.started,
      request_ms: tts.request_ms,
      goal_ms: 3000,
    });
    // Signed by the agency: its signature stands for the second person, the clock runs from the POST.
    const cap = await toAir(server, hanoi, async () => ({
      send: () =>
        call(
          server,
          'POST',
          '/emergencies/cap',
          signCap(capAlert(text), privateKey.export({ type: 'pkcs8', format: 'pem' }) as string),
          'application/cap+xml',
        ),
    }));
    figure('emergency', 'cap_to_air_ms_579', cap.ms, 'ms', { gateways: hanoi, started: cap.started, request_ms: cap.request_ms });
    await stopChild(child);

    // The whole country: the 2025 map with one station per 2024 commune, every gateway in the child process.
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
    const country = await simulate(server, tokens);
    child = country.child;
    const all = await toAir(server, country.online, confirmed({ ...actual({ units: provinces }), content: { template: 'bench-siren' } }));
    figure('emergency', 'emergency_to_air_ms_10542', all.ms, 'ms', {
      gateways: country.online,
      started: all.started,
      request_ms: all.request_ms,
      goal_ms: 2000,
      server_rss_mb: Math.round(process.memoryUsage().rss / 1048576),
    });
  } finally {
    await stopChild(child);
    await server.stop();
  }
}

/** A CAP 1.2 alert for Hà Nội (geocode by the national unit code), its instruction to be spoken. */
function capAlert(instruction: string): string {
  const sent = new Date().toISOString().replace(/\.\d+Z$/, '+00:00');
  return `<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>bench-${Date.now()}</identifier>
  <sender>kttv@nchmf.gov.vn</sender>
  <sent>${sent}</sent>
  <status>Actual</status>
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
