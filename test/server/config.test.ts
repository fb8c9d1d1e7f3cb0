import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadConfig } from '../../server/config.ts';
import { onPostgres, startTestServer } from '../helpers/server.ts';

t.test('embedded defaults need no environment at all', async (t) => {
  const c = loadConfig({});
  t.equal(c.port, 8080);
  t.equal(c.mqttPort, 1883);
  t.equal(c.mqttUrl, undefined, 'the embedded broker runs');
  t.match(c.databaseFile, /data\/loaphuong\.db$/);
  t.equal(c.publicUrl, 'http://localhost:8080');
  t.equal(c.maxUploadBytes, 200 * 1024 * 1024);
  t.equal(c.seed, 'hanoi-2025', 'today’s map by default');
  t.equal(loadConfig({ LP_SEED: 'false' }).seed, 'none', 'the old boolean still works');
  t.equal(loadConfig({ LP_SEED: 'hanoi-2024' }).seed, 'hanoi-2024');
});

t.test('a wrong value stops the start with a message naming the variable', async (t) => {
  t.throws(() => loadConfig({ PORT: 'eighty' }), { code: 'INVALID_CONFIG', message: /PORT/ });
  t.throws(() => loadConfig({ LP_OPUS_BITRATE_KBPS: '8' }), { message: /LP_OPUS_BITRATE_KBPS/ });
  t.throws(() => loadConfig({ LP_MQTT_URL: 'not a url' }), { message: /LP_MQTT_URL/ });
  t.throws(() => loadConfig({ LP_SEED: 'maybe' }), { message: /LP_SEED/ });
});

t.test('a config file is read, and the environment wins over it', async (t) => {
  const file = join(tmpdir(), `lp-config-${process.pid}.json`);
  writeFileSync(file, JSON.stringify({ port: 9000, opusBitrateKbps: 24 }));
  const c = loadConfig({ LP_CONFIG_FILE: file, PORT: '9100' });
  t.equal(c.port, 9100);
  t.equal(c.opusBitrateKbps, 24);
  writeFileSync(file, JSON.stringify({ port: 'x' }));
  t.throws(() => loadConfig({ LP_CONFIG_FILE: file }), { message: /lp-config-.*: port/ });
  writeFileSync(file, JSON.stringify({ unknownKey: 1 }));
  t.throws(() => loadConfig({ LP_CONFIG_FILE: file }), { code: 'INVALID_CONFIG' });
  t.throws(() => loadConfig({ LP_CONFIG_FILE: '/nonexistent.json' }), { message: /LP_CONFIG_FILE/ });
});

t.test(
  'the data directory is 0700 and the database files 0600 (password hashes and secrets are inside)',
  { skip: onPostgres && 'the SQLite files: none on PostgreSQL' },
  async (t) => {
    const parent = mkdtempSync(join(tmpdir(), 'lp-modes-'));
    t.teardown(() => rmSync(parent, { recursive: true, force: true }));
    const server = await startTestServer({ dataDir: join(parent, 'fresh', 'data') });
    t.teardown(() => server.stop());
    const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);
    t.equal(mode(server.dataDir), '700');
    for (const f of readdirSync(server.dataDir).filter((f) => f.startsWith('loaphuong.db')))
      t.equal(mode(join(server.dataDir, f)), '600', f);
    t.ok(readdirSync(server.dataDir).includes('loaphuong.db-wal'), 'the write-ahead log is checked too');
  },
);
