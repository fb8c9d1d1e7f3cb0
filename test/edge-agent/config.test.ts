// The agent's configuration: flags over environment over the JSON file over defaults, all validated.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { buildAgent, GATEWAY_NODE_FLAGS } from '../../edge-agent/build.ts';
import { loadAgentConfig } from '../../edge-agent/config.ts';

const file = (content: string) => {
  const path = join(mkdtempSync(join(tmpdir(), 'lp-agent-config-')), 'agent.json');
  writeFileSync(path, content);
  return path;
};

t.test('defaults, then the file, then the environment, then flags', (t) => {
  const defaults = loadAgentConfig([], {});
  t.match(defaults, {
    serverUrl: 'http://127.0.0.1:8080',
    prefetchHorizonHours: 72,
    cacheBudgetMB: 1024,
    heartbeatSeconds: 60,
    fadeMs: 300,
  });
  const path = file(JSON.stringify({ serverUrl: 'http://file:8080', cacheBudgetMB: 256, fadeMs: 0 }));
  const fromFile = loadAgentConfig(['--config', path], {});
  t.match(fromFile, { serverUrl: 'http://file:8080', cacheBudgetMB: 256, fadeMs: 0 });
  const env = loadAgentConfig([], { LP_AGENT_CONFIG: path, LP_AGENT_SERVER_URL: 'http://env:8080/' });
  t.match(env, { serverUrl: 'http://env:8080', cacheBudgetMB: 256 }, 'environment over the file; trailing slash dropped');
  t.match(loadAgentConfig(['--server', 'http://flag:1'], { LP_AGENT_SERVER_URL: 'http://env:8080' }), { serverUrl: 'http://flag:1' });
  t.end();
});

t.test('a bad file or value is refused with what is wrong', (t) => {
  t.throws(() => loadAgentConfig(['--config', '/nonexistent/agent.json'], {}), /--config: cannot read/);
  t.throws(() => loadAgentConfig(['--config', file('[1]')], {}), /not a JSON object/);
  t.throws(() => loadAgentConfig(['--config', file('{"cacheBudgetMB": -1}')], {}), /cacheBudgetMB/);
  t.throws(() => loadAgentConfig(['--config', file('{"colour": "blue"}')], {}), /colour/, 'unknown keys are refused');
  t.throws(() => loadAgentConfig(['--server', 'not a url'], {}), /--server/);
  t.end();
});

t.test('the enrollment token never comes from the command line: a file, standard input or the environment', (t) => {
  const token = '-Xb2sd81kd9ahXlq0Zp8';
  t.equal(loadAgentConfig(['--enroll-token-file', file(`${token}\n`)], {}).enrollToken, token, 'from a file, trimmed');
  t.equal(
    loadAgentConfig(['--enroll-token-file', '-'], {}, (f) => (f === 0 ? `${token}\n` : '')).enrollToken,
    token,
    '"-" reads standard input',
  );
  t.equal(loadAgentConfig([], { LP_AGENT_ENROLL_TOKEN: token }).enrollToken, token, 'from the environment');
  t.equal(loadAgentConfig([], { LP_AGENT_ENROLL_TOKEN_FILE: file(token) }).enrollToken, token);
  t.throws(() => loadAgentConfig(['--enroll-token', token], {}), /visible to every user of this machine/, 'on argv it is refused');
  t.throws(() => loadAgentConfig([`--enroll-token=${token}`], {}), /--enroll-token-file/);
  t.throws(() => loadAgentConfig(['--enroll-token-file', '/nonexistent/token'], {}), /--enroll-token-file: cannot read/);
  t.end();
});

t.test('zones map zone codes to ALSA devices; a bad code or an empty map is refused', (t) => {
  t.same(loadAgentConfig(['--config', file('{"zones": {"z1": "hw:0,0", "z2": "null"}}')], {}).zones, { z1: 'hw:0,0', z2: 'null' });
  t.throws(() => loadAgentConfig(['--config', file('{"zones": {"z 1": "hw:0,0"}}')], {}), /zone code/);
  t.throws(() => loadAgentConfig(['--config', file('{"zones": {}}')], {}), /between 1 and 16 zones/);
  t.end();
});

t.test('the gateway bundle is one file that runs under plain node and validates its configuration', async (t) => {
  const bundle = await buildAgent(join(mkdtempSync(join(tmpdir(), 'lp-agent-bundle-')), 'agent.mjs'));
  const run = spawnSync(process.execPath, [...GATEWAY_NODE_FLAGS, bundle, '--server', 'not a url'], { encoding: 'utf8', cwd: tmpdir() });
  t.equal(run.status, 2, 'a bad value exits 2');
  t.match(run.stderr, /loaphuong-agent: --server: /);
  t.notMatch(run.stderr, /[Ww]arning/, 'the gateway flags start node without a warning');
  t.notMatch(run.stderr, /Invalid input/, 'validation messages say what is wrong, in English');
  const unit = readFileSync('deploy/systemd/loaphuong-agent@.service', 'utf8');
  t.match(unit, `ExecStart=/usr/bin/node ${GATEWAY_NODE_FLAGS.join(' ')} dist/agent.mjs`, 'the systemd unit runs the measured flags');
});
