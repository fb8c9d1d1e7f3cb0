// `npm run simulate -- --stations N [--unit CODE] [--server URL] [--mqtt URL] [--agent-backoff]`
// Provisions a simulated gateway ("<station>-sim") on N stations (of a unit, when given) with the
// administrator login from LP_SIM_USER / LP_SIM_PASSWORD (default user admin), enrolls them and keeps
// them online, printing what they acknowledge and report as JSON lines. Ctrl-C stops.
import { parseArgs } from 'node:util';
import { systemClock } from './clock.ts';
import { Simulator } from './simulator.ts';

const USAGE = `Usage: LP_SIM_PASSWORD=<admin password> npm run simulate -- [options]

Provisions a simulated gateway ("<station>-sim") on N stations, enrolls them and keeps them online: they
verify and acknowledge their signed plans and send signed proofs from a null player, resent until the
server's storage receipt names them. Prints each event as a JSON line; Ctrl-C stops.

Options:
  --stations N       how many (1-20000, default 10)
  --unit CODE        only stations below this unit
  --server URL       the server's base URL (default http://127.0.0.1:8080, or LP_AGENT_SERVER_URL)
  --mqtt URL         the broker (default mqtt://127.0.0.1:1883, or LP_AGENT_MQTT_URL)
  --agent-backoff    reconnect as the agent does (1 s doubling to 300 s, jittered) instead of every 2-5 s
  --help             this text
Environment: LP_SIM_USER (default admin) and LP_SIM_PASSWORD, an administrator login used to provision.
`;

let parsed: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    options: {
      stations: { type: 'string', default: '10' },
      unit: { type: 'string' },
      server: { type: 'string', default: process.env.LP_AGENT_SERVER_URL ?? 'http://127.0.0.1:8080' },
      mqtt: { type: 'string', default: process.env.LP_AGENT_MQTT_URL ?? 'mqtt://127.0.0.1:1883' },
      'agent-backoff': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
}
try {
  parsed = parse();
} catch (err) {
  console.error(`loaphuong-simulate: ${(err as Error).message}\n\n${USAGE}`);
  process.exit(2);
}
const { values } = parsed;
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
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
  }).catch((err: Error) => {
    throw new Error(`cannot reach the server at ${server}: ${(err.cause as Error | undefined)?.message ?? err.message}`);
  });
  if (!login.ok) throw new Error(`login at ${server} answered ${login.status}`);
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
  const sim = new Simulator({ serverUrl: server, mqttUrl: values.mqtt, clock: systemClock, fetch, agentBackoff: values['agent-backoff'] });
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
