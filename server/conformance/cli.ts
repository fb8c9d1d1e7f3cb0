// `npm run conformance -- [--device-command CMD | --agent] [--host H] [--port P] [--mqtt-port P] [--data-dir D]
// [--timeout-ms N]`: the [P-10] checklist against a device under test, on the real clock (about 6 minutes).
// The kit starts a server of its own (embedded broker, SQLite in the data dir), provisions station HN-00001
// and starts the device with its one-time token: CMD runs in a shell with {server}, {mqtt}, {token} and {dir}
// replaced (and LP_CONFORMANCE_SERVER_URL, _MQTT_URL, _TOKEN, _DIR in its environment); --agent runs this
// repository's agent so. Without either it prints what a device needs and waits for one to enroll.
// Exit status 0 when every check passes, 1 when one fails, 2 on a usage error.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { LaunchEnv } from './kit.ts';
import { formatResult } from './results.ts';
import { runConformance } from './run.ts';

const USAGE = `Usage: npm run conformance -- [options]
  --device-command CMD  starts the device under test: {server} {mqtt} {token} {dir} are replaced
  --agent               the device under test is this repository's agent (npm run agent)
  --host H              address the kit's server listens on (default 127.0.0.1; 0.0.0.0 for a device on the LAN:
                        its broker then lets anyone there watch the kit's topics, read-only, as the kit does)
  --port P, --mqtt-port P   its HTTP and MQTT ports (default: any free port)
  --data-dir D          where the kit's server keeps its data (default: a new temporary directory)
  --timeout-ms N        how long to wait for each message the device owes (default 30000)`;

function fail(message: string): never {
  console.error(`conformance: ${message}\n${USAGE}`);
  process.exit(2);
}

let args: ReturnType<typeof parse>;
const parse = () =>
  parseArgs({
    options: {
      'device-command': { type: 'string' },
      agent: { type: 'boolean' },
      host: { type: 'string' },
      port: { type: 'string' },
      'mqtt-port': { type: 'string' },
      'data-dir': { type: 'string' },
      'timeout-ms': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  }).values;
try {
  args = parse();
} catch (err) {
  fail((err as Error).message);
}
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
const int = (name: string, v: string | undefined) => {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) fail(`--${name} must be a whole number`);
  return Number(v);
};

const children: ChildProcess[] = [];
const dir = mkdtempSync(join(tmpdir(), 'loaphuong-dut-'));
const command = args['device-command'] ?? (args.agent ? `npm run -s agent -- --server {server} --mqtt {mqtt} --data-dir {dir}` : undefined);

/** Neither exited nor killed by a signal. */
const running = (child: ChildProcess) => child.exitCode === null && child.signalCode === null && Boolean(child.pid);

/** Signals the device's whole process group (a shell and what it started); one already gone is fine. */
function signal(child: ChildProcess, name: NodeJS.Signals): void {
  try {
    process.kill(-(child.pid as number), name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

async function launch(env: LaunchEnv) {
  if (!command) {
    console.log(
      `Start the device under test now, with:\n  server URL  ${env.serverUrl}\n  MQTT URL    ${env.mqttUrl}\n  token       ${env.enrollToken}\n  station     ${env.station}`,
    );
    return { stop: async () => {} };
  }
  const line = command
    .replaceAll('{server}', env.serverUrl)
    .replaceAll('{mqtt}', env.mqttUrl)
    .replaceAll('{token}', env.enrollToken)
    .replaceAll('{dir}', dir);
  const child = spawn('sh', ['-c', line], {
    stdio: ['ignore', 'ignore', 'inherit'],
    detached: true,
    env: {
      ...process.env,
      LP_CONFORMANCE_SERVER_URL: env.serverUrl,
      LP_CONFORMANCE_MQTT_URL: env.mqttUrl,
      LP_CONFORMANCE_TOKEN: env.enrollToken,
      LP_CONFORMANCE_DIR: dir,
      ...(args.agent ? { LP_AGENT_ENROLL_TOKEN: env.enrollToken } : {}),
    },
  });
  children.push(child);
  return {
    stop: async () => {
      if (!running(child)) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      signal(child, 'SIGTERM');
      await exited;
    },
  };
}

const list = await runConformance({
  launch,
  restarts: Boolean(command),
  dataDir: args['data-dir'] ?? mkdtempSync(join(tmpdir(), 'loaphuong-conformance-')),
  host: args.host,
  port: int('port', args.port),
  mqttPort: int('mqtt-port', args['mqtt-port']),
  timeoutMs: int('timeout-ms', args['timeout-ms']),
  progress: (line) => console.log(line),
});
const passed = list.filter((r) => r.status === 'pass').length;
const failed = list.filter((r) => r.status === 'fail');
console.log(`\n${passed} passed, ${failed.length} failed, ${list.length - passed - failed.length} not run`);
for (const r of failed) console.log(formatResult(r));
for (const c of children) if (running(c)) signal(c, 'SIGKILL');
process.exit(failed.length || passed < list.length ? 1 : 0);
