import { generateKeyPairSync, type KeyPairKeyObjectResult, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { connectAsync } from 'mqtt';
import pg from 'pg';
import { publicKeyHex } from '#protocol';
import { loadConfig } from '../../server/config.ts';
import type { DbTarget } from '../../server/db/client.ts';
import type { Runner } from '../../server/media/process-runner.ts';
import { type RunningServer, startServer } from '../../server/server.ts';
import { scratchDir } from './scratch.ts';

export const TEST_ADMIN_PASSWORD = 'correct-horse-battery';

/** What the HTTP helpers need of a server: its URL and an admin session (an in-process or a child-process server). */
export interface ApiTarget {
  url: string;
  token: string;
  auth: { authorization: string };
}

export interface TestServer extends RunningServer {
  dataDir: string;
  token: string;
  auth: { authorization: string };
  /** Where its data lives (the suite's database kind: SQLite, or PostgreSQL under LP_TEST_PG_URL). */
  database: DbTarget;
}

/**
 * The suite runs once on SQLite and once on PostgreSQL: with LP_TEST_PG_URL (a server's admin URL, see
 * pg-cluster.mjs) every test server gets a new database of its own there, dropped when it stops.
 */
export const PG_ADMIN_URL = process.env.LP_TEST_PG_URL;
export const onPostgres = Boolean(PG_ADMIN_URL);

/** The environment that points a command-line tool at a test server's database (its data dir holds the rest). */
export const databaseEnv = (server: { dataDir: string; database: DbTarget }): Record<string, string> => ({
  LP_DATA_DIR: server.dataDir,
  ...(server.database.dialect === 'postgres' ? { LP_DATABASE_URL: server.database.url } : {}),
});

/** The PostgreSQL database of each data dir: a server restarted on the same data dir finds its data again. */
const pgDatabases = new Map<string, Promise<string>>();

/**
 * The PostgreSQL database that belongs with a data dir (made on first use), or undefined on SQLite. All of
 * a process's databases (a test file's, a benchmark's) are dropped when it has nothing left to do.
 */
export function pgDatabaseFor(dataDir: string): Promise<string> | undefined {
  if (!PG_ADMIN_URL) return undefined;
  let url = pgDatabases.get(dataDir);
  if (!url) {
    url = createPgDatabase(PG_ADMIN_URL);
    if (pgDatabases.size === 0) process.once('beforeExit', () => void dropPgDatabases());
    pgDatabases.set(dataDir, url);
  }
  return url;
}

/** A new, empty database on the PostgreSQL server of `adminUrl`; returns its URL. */
export async function createPgDatabase(adminUrl: string): Promise<string> {
  const name = `lp_test_${randomUUID().replace(/-/g, '')}`;
  await withAdmin(adminUrl, (c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function dropPgDatabases(): Promise<void> {
  const urls = await Promise.all(pgDatabases.values());
  pgDatabases.clear();
  if (!PG_ADMIN_URL) return;
  await withAdmin(PG_ADMIN_URL, async (c) => {
    for (const u of urls) await c.query(`DROP DATABASE IF EXISTS ${new URL(u).pathname.slice(1)} WITH (FORCE)`);
  });
}

async function withAdmin<T>(adminUrl: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** The real server on a temporary data dir, ephemeral ports, silent logs. */
export async function startTestServer(
  opts: { now?: () => Date; env?: Record<string, string>; dataDir?: string; run?: Runner } = {},
): Promise<TestServer> {
  const dataDir = opts.env?.LP_DATA_DIR ?? opts.dataDir ?? scratchDir('loaphuong-test-');
  const pgUrl = opts.env?.LP_DATABASE_URL ? undefined : await pgDatabaseFor(dataDir);
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    LP_MQTT_PORT: '0',
    LP_MQTT_HOST: '127.0.0.1',
    LP_DATA_DIR: dataDir,
    LP_LOG_LEVEL: 'silent',
    LP_ADMIN_PASSWORD: TEST_ADMIN_PASSWORD,
    // Tests that are not about policy schedule at any hour; the policy tests ask for hanoi-2021.
    LP_SEED_POLICY: 'none',
    // Tests name the 2024 map's districts and communes; the map tests ask for hanoi-2025.
    LP_SEED: 'hanoi-2024',
    // Tests watch topics as anonymous read-only observers; publishing needs a device's or the server's login.
    LP_MQTT_ANONYMOUS: 'true',
    // Every test logs in from 127.0.0.1, many times; the per-address limit has its own test.
    LP_LOGINS_PER_MINUTE: '100000',
    ...(pgUrl ? { LP_DATABASE_URL: pgUrl } : {}),
    ...opts.env,
  });
  const server = await startServer(config, { ...(opts.now ? { now: opts.now } : {}), ...(opts.run ? { run: opts.run } : {}) });
  const token = await adminLogin(server.url);
  return Object.assign(server, { dataDir, token, auth: { authorization: `Bearer ${token}` }, database: config.database });
}

/** A new session of the seeded administrator; fails, saying why, when the login is refused. */
export async function adminLogin(url: string): Promise<string> {
  const res = await fetch(`${url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: TEST_ADMIN_PASSWORD }),
  });
  if (!res.ok) throw new Error(`admin login answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}

export async function upload(
  server: ApiTarget,
  file: string,
  opts: { title?: string; name?: string; type?: string; auth?: { authorization: string } } = {},
) {
  const { readFileSync } = await import('node:fs');
  const form = new FormData();
  form.append(
    'file',
    new Blob([readFileSync(file)], { type: opts.type ?? 'application/octet-stream' }),
    opts.name ?? file.split('/').at(-1),
  );
  const q = opts.title ? `?title=${encodeURIComponent(opts.title)}` : '';
  const res = await fetch(`${server.url}/api/v1/media${q}`, { method: 'POST', headers: opts.auth ?? server.auth, body: form });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & { error?: { code: string } } };
}

export type ApiAnswer = { status: number; body: Record<string, unknown> & { error?: { code: string } } };

/** One JSON API call with a bearer token (the admin's unless given). */
export async function api(server: ApiTarget, method: string, path: string, body?: unknown, token = server.token): Promise<ApiAnswer> {
  const res = await fetch(`${server.url}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : {} };
}

/** Creates a user (as the admin) with a role and optionally a unit, and returns its session token. */
export async function signedInAs(server: ApiTarget, username: string, role: string, unit?: string): Promise<string> {
  const password = 'a-long-password-1';
  const created = await api(server, 'POST', '/users', { username, password, role, ...(unit ? { unit } : {}) });
  if (created.status !== 201) throw new Error(JSON.stringify(created));
  return (await api(server, 'POST', '/auth/login', { username, password }, '')).body.token as string;
}

export const TEST_APPROVER = { username: 'approver.test', password: 'approver-password-1' };

/** Logs in as the test approver, creating the account (as admin) the first time. */
export async function approverAuth(server: ApiTarget): Promise<{ authorization: string }> {
  const json = { 'content-type': 'application/json' };
  await fetch(`${server.url}/api/v1/users`, {
    method: 'POST',
    headers: { ...server.auth, ...json },
    body: JSON.stringify({ ...TEST_APPROVER, role: 'approver' }),
  });
  const res = await fetch(`${server.url}/api/v1/auth/login`, { method: 'POST', headers: json, body: JSON.stringify(TEST_APPROVER) });
  return { authorization: `Bearer ${((await res.json()) as { token: string }).token}` };
}

/** Submits an item as its author (admin) and approves it as another user, as the workflow requires. */
export async function approve(server: ApiTarget, mediaId: unknown, approver?: { authorization: string }): Promise<void> {
  const submit = await fetch(`${server.url}/api/v1/media/${mediaId}/submit`, { method: 'POST', headers: server.auth });
  if (submit.status !== 200) throw new Error(`submit failed: ${await submit.text()}`);
  const ok = await fetch(`${server.url}/api/v1/media/${mediaId}/approve`, {
    method: 'POST',
    headers: approver ?? (await approverAuth(server)),
  });
  if (ok.status !== 200) throw new Error(`approve failed: ${await ok.text()}`);
}

/** Upload, then approve: an item ready to schedule. */
export async function uploadApproved(server: ApiTarget, file: string, opts: { title?: string } = {}) {
  const r = await upload(server, file, opts);
  if (r.status === 201) await approve(server, r.body.id);
  return r;
}

/** Logs the admin in again (sessions expire, and fake clocks move days at a time). */
export async function relogin(server: ApiTarget): Promise<void> {
  const res = await fetch(`${server.url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: TEST_ADMIN_PASSWORD }),
  });
  const { token } = (await res.json()) as { token: string };
  server.token = token;
  server.auth.authorization = `Bearer ${token}`;
}

/** Schedules one item on one station at `startsAt` (as admin); returns the occurrence id, throws unless created. */
export async function scheduleItem(server: ApiTarget, mediaId: unknown, station: string, startsAt: Date | number, extra: object = {}) {
  const res = await fetch(`${server.url}/api/v1/schedules`, {
    method: 'POST',
    headers: { ...server.auth, 'content-type': 'application/json' },
    // A hard start unless asked otherwise: the tests time their proofs and windows from the instant itself
    // (the API's own default for a queued item is a 15-minute window).
    body: JSON.stringify({ mediaId, stations: [station], startsAt: new Date(startsAt).toISOString(), startWindowMinutes: 0, ...extra }),
  });
  if (res.status !== 201) throw new Error(`scheduling on ${station} answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { occurrences: { id: string }[] }).occurrences[0].id;
}

/** Sends a remote command through the server's API and returns the device's reply as the API relays it. */
export async function sendCommand(server: ApiTarget, station: string, body: unknown) {
  const res = await fetch(`${server.url}/api/v1/stations/${station}/commands`, {
    method: 'POST',
    headers: { ...server.auth, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return {
    status: res.status,
    body: (await res.json()) as Record<string, unknown> & { ok?: boolean; error?: { code: string }; result?: Record<string, unknown> },
  };
}

/** Provisions a gateway for the station and writes its token to a 0600 file in `dir`, for the agent's --enroll-token-file. */
export async function enrollTokenFile(server: ApiTarget, station: string, dir: string): Promise<string> {
  const { writeFileSync } = await import('node:fs');
  const file = join(dir, 'enroll-token');
  writeFileSync(file, await provisionDevice(server, station), { mode: 0o600 });
  return file;
}

/** Provisions a gateway for the station (as admin) and returns its one-time enrollment token. */
export async function provisionDevice(server: ApiTarget, station: string, body: object = {}): Promise<string> {
  const res = await fetch(`${server.url}/api/v1/stations/${station}/devices`, {
    method: 'POST',
    headers: { ...server.auth, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as { enrollToken?: string; error?: unknown };
  if (res.status !== 201 || !json.enrollToken) throw new Error(`provisioning ${station} failed: ${res.status} ${JSON.stringify(json)}`);
  return json.enrollToken;
}

/**
 * Resolves once `done()` holds, asking again after each `event` of `emitter` (one question at a time; an
 * event arriving meanwhile asks once more), so nothing waits on a timer and no event falls between a
 * question and the wait for the next one.
 */
export function untilEvent(
  emitter: { on(event: string, listener: () => void): unknown; off(event: string, listener: () => void): unknown },
  event: string,
  done: () => Promise<boolean>,
  timeoutMs = 120_000,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, check);
      reject(new Error(`the condition did not hold within ${timeoutMs} ms of '${event}' events`));
    }, timeoutMs);
    let checking = false;
    let again = false;
    const check = async (): Promise<void> => {
      if (checking) {
        again = true;
        return;
      }
      checking = true;
      const ok = await done();
      checking = false;
      if (ok) {
        clearTimeout(timer);
        emitter.off(event, check);
        return resolve();
      }
      if (again) {
        again = false;
        return check();
      }
    };
    emitter.on(event, check);
    void check();
  });
}

/** Resolves once `done()` holds, asking again after each manifest ack the server records. */
export function untilAcked(server: TestServer, done: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  return untilEvent(server.dispatch.events, 'ack', done, timeoutMs);
}

/** An MQTT session logged in as an enrolled device (client id = username = device code). */
export function deviceClient(server: TestServer, device: string, password: string, opts: { reconnectPeriod?: number } = {}) {
  return connectAsync(server.mqttUrl, { protocolVersion: 4, clientId: device, username: device, password, reconnectPeriod: 0, ...opts });
}

/**
 * Enrolls a new gateway for the station, or with `token` (a reissued one) the device it names again;
 * answers the device code, its MQTT login and URL, and its signing key.
 */
export async function enrollDevice(
  server: ApiTarget,
  station: string,
  token?: string,
): Promise<{ device: string; password: string; url: string; key: KeyPairKeyObjectResult }> {
  const key = generateKeyPairSync('ed25519');
  const res = await fetch(`${server.url}/api/v1/gateway/enroll`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      token: token ?? (await provisionDevice(server, station)),
      publicKeyHex: publicKeyHex(key.publicKey),
      agentVersion: 'test',
      protocolVersions: [1],
    }),
  });
  if (res.status !== 200) throw new Error(`enrollment failed: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { device: string; mqtt: { password: string; url: string } };
  return { device: body.device, password: body.mqtt.password, url: body.mqtt.url, key };
}

/**
 * JSON calls from another loopback source address (127.0.0.2, 127.0.0.3, …): what the server sees as a
 * different client, for tests of per-address limits. node:http, because fetch cannot pick the source.
 */
export function fromAddress(server: { url: string }, localAddress: string) {
  return async (method: string, path: string, body?: unknown, token?: string): Promise<ApiAnswer> => {
    const { request } = await import('node:http');
    const text = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        `${server.url}/api/v1${path}`,
        {
          method,
          localAddress,
          headers: {
            ...(token ? { authorization: `Bearer ${token}` } : {}),
            ...(text !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } : {}),
          },
        },
        (res) => {
          let data = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            data += c;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data ? JSON.parse(data) : {} }));
        },
      );
      req.on('error', reject);
      req.end(text);
    });
  };
}
