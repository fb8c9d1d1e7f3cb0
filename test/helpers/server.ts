import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../server/config.ts';
import { type RunningServer, startServer } from '../../server/server.ts';

export const TEST_ADMIN_PASSWORD = 'correct-horse-battery';

export interface TestServer extends RunningServer {
  dataDir: string;
  token: string;
  auth: { authorization: string };
}

/** The real server on a temporary data dir, ephemeral ports, silent logs. */
export async function startTestServer(opts: { now?: () => Date; env?: Record<string, string> } = {}): Promise<TestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'loaphuong-test-'));
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    LP_MQTT_PORT: '0',
    LP_MQTT_HOST: '127.0.0.1',
    LP_DATA_DIR: dataDir,
    LP_LOG_LEVEL: 'silent',
    LP_ADMIN_PASSWORD: TEST_ADMIN_PASSWORD,
    ...opts.env,
  });
  const server = await startServer(config, opts.now ? { now: opts.now } : {});
  const res = await fetch(`${server.url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: TEST_ADMIN_PASSWORD }),
  });
  const { token } = (await res.json()) as { token: string };
  return Object.assign(server, { dataDir, token, auth: { authorization: `Bearer ${token}` } });
}

export async function upload(server: TestServer, file: string, opts: { title?: string; name?: string; type?: string } = {}) {
  const { readFileSync } = await import('node:fs');
  const form = new FormData();
  form.append(
    'file',
    new Blob([readFileSync(file)], { type: opts.type ?? 'application/octet-stream' }),
    opts.name ?? file.split('/').at(-1),
  );
  const q = opts.title ? `?title=${encodeURIComponent(opts.title)}` : '';
  const res = await fetch(`${server.url}/api/v1/media${q}`, { method: 'POST', headers: server.auth, body: form });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & { error?: { code: string } } };
}
