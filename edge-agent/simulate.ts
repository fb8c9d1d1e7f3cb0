// `npm run simulate -- --stations N [--unit CODE] [--server URL] [--mqtt URL]`
// Provisions a simulated gateway ("<station>-sim") on N stations (of a unit, when given) with the
// administrator login from LP_SIM_USER / LP_SIM_PASSWORD (default user admin), enrolls them and keeps
// them online, printing what they acknowledge and report as JSON lines. Ctrl-C stops.
import { parseArgs } from 'node:util';
import { systemClock } from './clock.ts';
import { Simulator } from './simulator.ts';

const { values } = parseArgs({
  options: {
    stations: { type: 'string', default: '10' },
    unit: { type: 'string' },
    server: { type: 'string', default: process.env.LP_AGENT_SERVER_URL ?? 'http://127.0.0.1:8080' },
    mqtt: { type: 'string', default: process.env.LP_AGENT_MQTT_URL ?? 'mqtt://127.0.0.1:1883' },
  },
  strict: true,
});
const out = (obj: object) => console.log(JSON.stringify({ time: new Date().toISOString(), ...obj }));

async function main() {
  const n = Number(values.stations);
  if (!Number.isInteger(n) || n < 1 || n > 20_000) throw new Error('--stations must be a whole number from 1 to 20000');
  const server = values.server.replace(/\/$/, '');
  const password = process.env.LP_SIM_PASSWORD;
  if (!password)
    throw new Error('set LP_SIM_PASSWORD (and LP_SIM_USER, default admin) to an administrator login: the simulator provisions devices');
  const login = await fetch(`${server}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: process.env.LP_SIM_USER ?? 'admin', password }),
  });
  if (!login.ok) throw new Error(`login answered ${login.status}`);
  const auth = { authorization: `Bearer ${((await login.json()) as { token: string }).token}`, 'content-type': 'application/json' };
  const stations: string[] = [];
  while (stations.length < n) {
    const q = `limit=1000&offset=${stations.length}${values.unit ? `&unit=${encodeURIComponent(values.unit)}` : ''}`;
    const page = ((await (await fetch(`${server}/api/v1/stations?${q}`, { headers: auth })).json()) as { items: { code: string }[] }).items;
    if (!page.length) break;
    stations.push(...page.slice(0, n - stations.length).map((s) => s.code));
  }
  const tokens: string[] = [];
  for (const station of stations) {
    const code = `${station}-sim`;
    const created = await fetch(`${server}/api/v1/stations/${station}/devices`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ code }),
    });
    const res =
      created.status === 409
        ? await fetch(`${server}/api/v1/devices/${code}/enrollment-token`, { method: 'POST', headers: auth })
        : created;
    if (!res.ok) throw new Error(`provisioning ${code} answered ${res.status}: ${await res.text()}`);
    tokens.push(((await res.json()) as { enrollToken: string }).enrollToken);
  }
  const sim = new Simulator({ serverUrl: server, mqttUrl: values.mqtt, clock: systemClock, fetch });
  sim.onEvent((e) => out(e));
  await sim.start(tokens);
  out({ msg: 'simulated gateways online', gateways: sim.gateways.length, unit: values.unit ?? null });
  const stop = async () => {
    await sim.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

main().catch((err) => {
  console.error(`loaphuong-simulate: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
});
