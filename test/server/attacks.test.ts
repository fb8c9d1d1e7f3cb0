// Issue #17's attacks on the HTTP API, each performed against the real server and refused, with the
// resource it targeted counted (audit rows, held connections, files left) and legitimate use going on.
// Timeouts are shortened so the waits are a second, not minutes; the shipped defaults are in
// server/config.ts and the bench (`npm run bench -- attacks`) runs the same attacks on them.
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { publicKeyHex } from '#protocol';
import { loadOrCreateSecretBox } from '../../server/auth/secret-box.ts';
import { sealStoredTotpSecrets, totpCode } from '../../server/auth/totp.ts';
import { redact } from '../../server/services/audit-service.ts';
import { onlineAgent } from '../helpers/agent.ts';
import { anonymousPosts, healthFlood, lockoutAttack, slowBodies, socketFrom, stalledUpload } from '../helpers/attacks.ts';
import { makeTone } from '../helpers/audio.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { matchExact } from '../helpers/match.ts';
import { api, fromAddress, provisionDevice, signedInAs, startTestServer, upload } from '../helpers/server.ts';
import { until } from '../helpers/server-process.ts';

const clock = new FakeClock(Date.now());
const server = await startTestServer({
  now: clock.date,
  env: {
    LP_BODY_TIMEOUT_MS: '1000',
    LP_UPLOAD_IDLE_TIMEOUT_MS: '1000',
    LP_HEADERS_TIMEOUT_MS: '1000',
    LP_ANONYMOUS_CONNECTIONS_PER_ADDRESS: '20',
    LP_HEALTH_PER_MINUTE: '100',
  },
});
t.teardown(() => server.stop());

t.test('strangers cannot grow the audit log: refused anonymous requests are counted, not appended', async (t) => {
  await server.refused.flush();
  const rowsBefore = await server.db.auditEvent.count();
  const countedBefore = (await server.db.refusedRequest.aggregate({ _sum: { count: true } }))._sum.count ?? 0;
  const statuses = await anonymousPosts(server.url, 700, 10);
  await server.refused.flush();
  t.equal(await server.db.auditEvent.count(), rowsBefore, `700 anonymous POSTs (${JSON.stringify(statuses)}) added no audit row`);
  const counted = (await server.db.refusedRequest.aggregate({ _sum: { count: true } }))._sum.count ?? 0;
  t.equal(counted - countedBefore, 700, 'each one is counted');
  t.ok((await server.db.refusedRequest.count()) <= 10, 'in a handful of rows (address, route, status, hour)');
  const listed = await api(server, 'GET', '/audit/refused');
  t.match(listed, { status: 200, body: { items: [{ ip: '127.0.0.1', count: Number }] } }, 'auditors see the counts');
  // Counts of a row already stored are added to it, the last instant kept (one statement for any number of rows).
  const key = { ip: '192.0.2.7', action: 'POST /api/v1/auth/login', status: 401 };
  for (const n of [3, 4]) {
    for (let i = 0; i < n; i++) server.refused.count(key.ip, key.action, key.status);
    await server.refused.flush();
  }
  t.match(await server.db.refusedRequest.findMany({ where: key }), [{ ...key, count: 7 }], 'a second flush adds to the row');
  const urls = JSON.stringify(await server.db.refusedRequest.findMany());
  t.notMatch(urls, /i=\d/, 'the query strings a stranger sent are not stored');
  t.match(urls, /\(no route\)/, 'nor the paths of unknown routes');
  const rows = await server.db.auditEvent.count();
  t.equal((await api(server, 'PATCH', '/stations/HN-00004', { speakerPoints: 12 })).status, 200, 'a signed-in change goes on');
  t.equal(await server.db.auditEvent.count(), rows + 1, 'and is on record');
});

t.test('every signed-in route authenticates before it reads the body: anonymous bad bodies get 401, not 400', async (t) => {
  const doc = (await (await fetch(`${server.url}/docs/json`)).json()) as { paths: Record<string, Record<string, { security?: unknown }>> };
  const open = new Set(['/api/v1/auth/login', '/api/v1/gateway/enroll']);
  let checked = 0;
  for (const [path, ops] of Object.entries(doc.paths)) {
    if (!path.startsWith('/api/v1/') || open.has(path)) continue;
    for (const method of Object.keys(ops)) {
      if (method === 'get' || !ops[method]?.security) continue;
      const url = `${server.url}${path.replace(/\{[^}]+\}/g, 'x')}`;
      const res = await fetch(url, { method: method.toUpperCase(), headers: { 'content-type': 'application/json' }, body: '{"bad":' });
      const body = (await res.json()) as { error: { code: string } };
      if (res.status !== 401) t.fail(`${method.toUpperCase()} ${path} answered ${res.status} ${body.error.code}`);
      checked++;
    }
  }
  t.ok(checked >= 30, `${checked} routes answered 401 UNAUTHORIZED to an anonymous malformed body`);
});

t.test('slow bodies are cut at the body deadline, and one address holds only so many connections', async (t) => {
  const slow = await slowBodies(server.url, 30, '127.0.0.2');
  t.teardown(slow.stop);
  await until(slow.onChange, () => slow.open() <= 20, 'connections past the per-address cap to be closed', 5000);
  t.ok(slow.open() <= 20, `${slow.open()} of 30 held: the cap is 20 per address`);
  const owner = fromAddress(server, '127.0.0.3');
  t.match(await owner('GET', '/stations?limit=1', undefined, server.token), { status: 200 }, 'another address is served meanwhile');
  await until(slow.onChange, () => slow.open() === 0, 'the body deadline to close the slow ones', 5000);
  t.equal(slow.open(), 0, 'none held after the 1 s body deadline');
  // The answer a slow client gets, when it reads one.
  const socket = await socketFrom(server.url, '127.0.0.5');
  socket.write(`POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{`);
  const text = await new Promise<string>((resolve) => {
    let got = '';
    socket.on('data', (d) => {
      got += d;
    });
    socket.once('close', () => resolve(got));
  });
  t.match(text, /^HTTP\/1\.1 408[\s\S]*"code":"BODY_TIMEOUT"/, '408 BODY_TIMEOUT, then the connection closes');
});

t.test('a slow request line or headers are cut by the headers timeout', async (t) => {
  const socket = await socketFrom(server.url, '127.0.0.6');
  socket.on('error', () => {});
  socket.resume();
  socket.write('GET /health HTTP/1.1\r\nHost: x\r\n');
  const closed = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 5000);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  t.ok(closed, 'closed within 5 s (headers timeout 1 s, checked every second)');
});

t.test('an upload whose file part stalls is refused within the idle timeout, and leaves no file', async (t) => {
  const uploads = join(server.dataDir, 'uploads');
  const answer = await stalledUpload(server.url, server.token, 10_000);
  matchExact(t, answer, { status: 408, body: { error: { code: 'UPLOAD_STALLED', message: String } }, closed: true, ms: Number });
  t.ok(answer.ms < 5000, `answered after ${answer.ms} ms`);
  t.same(existsSync(uploads) ? readdirSync(uploads) : [], [], 'the partial upload is removed');
  const ok = await upload(server, makeTone(join(server.dataDir, 'after-stall.wav'), { seconds: 1 }));
  t.equal(ok.status, 201, 'a real upload afterwards is stored');
});

t.test('/health is cheap and limited per address: a flood gets 429s, another address is answered', async (t) => {
  const flood = await healthFlood(server.url, { flood: 300, concurrency: 20, probes: 10 });
  t.ok((flood.floodStatuses[429] ?? 0) >= 150, `the flooding address: ${JSON.stringify(flood.floodStatuses)}`);
  t.same(flood.probeStatuses, Array(10).fill(200), `the prober from another address: all answered, p50 ${flood.p50Ms} ms`);
});

t.test('a lockout attack on an administrator: the owner with password and TOTP from another address still signs in', async (t) => {
  const token = await signedInAs(server, 'admin.target', 'province_admin');
  const setup = await api(server, 'POST', '/auth/totp/setup', {}, token);
  const secret = setup.body.secret as string;
  t.equal((await api(server, 'POST', '/auth/totp/enable', { code: totpCode(secret, clock.date()) }, token)).status, 204);
  clock.advance(30_000);
  const attack = await lockoutAttack(server.url, {
    username: 'admin.target',
    password: 'a-long-password-1',
    tries: 40,
    totp: () => totpCode(secret, clock.date()),
  });
  t.ok((attack.attacker[429] ?? 0) >= 30, `the attacking address is throttled, then blocked: ${JSON.stringify(attack.attacker)}`);
  t.match(attack.owner, { status: 200, body: { token: String } }, 'the owner signs in');

  const stored = await server.db.user.findUniqueOrThrow({ where: { username: 'admin.target' } });
  t.match(stored.totpSecret, /^aes256gcm:/, 'the TOTP secret is sealed at rest');
  t.notMatch(stored.totpSecret ?? '', secret);
  t.equal(statSync(join(server.dataDir, 'keys', 'secrets.key')).mode & 0o777, 0o600, 'with a key file outside the database');
});

t.test('TOTP secrets stored in clear (an older database) are sealed at the next start, and still work', async (t) => {
  const token = await signedInAs(server, 'admin.legacy', 'province_admin');
  const setup = await api(server, 'POST', '/auth/totp/setup', {}, token);
  const secret = setup.body.secret as string;
  t.equal((await api(server, 'POST', '/auth/totp/enable', { code: totpCode(secret, clock.date()) }, token)).status, 204);
  await server.db.user.update({ where: { username: 'admin.legacy' }, data: { totpSecret: secret } });
  t.equal(await sealStoredTotpSecrets(server.db, loadOrCreateSecretBox(server.dataDir)), 1);
  t.match((await server.db.user.findUniqueOrThrow({ where: { username: 'admin.legacy' } })).totpSecret, /^aes256gcm:/);
  clock.advance(30_000);
  const login = await api(
    server,
    'POST',
    '/auth/login',
    { username: 'admin.legacy', password: 'a-long-password-1', totp: totpCode(secret, clock.date()) },
    '',
  );
  t.equal(login.status, 200);
});

t.test('commands: deep nesting is refused by the parser, unknown fields by the command, and what runs is on record', async (t) => {
  const station = 'HN-00022';
  const gw = await onlineAgent(t, { station, server, clock });
  const replies = () => gw.events.filter((e) => e.type === 'replied').length;
  const send = (body: string) =>
    fetch(`${server.url}/api/v1/stations/${station}/commands`, {
      method: 'POST',
      headers: { ...server.auth, 'content-type': 'application/json' },
      body,
    }).then(async (r) => ({ status: r.status, body: (await r.json()) as { error?: { code: string } } }));
  const deep = `{"action":"volume","level":37,"junk":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
  t.match(await send(deep), { status: 400, body: { error: { code: 'TOO_DEEP' } } });
  t.match(await send('{"action":"volume","level":37,"junk":{"a":1}}'), { status: 400, body: { error: { code: 'INVALID_COMMAND' } } });
  t.match(await send('{"action":"volume","level":37,"zone":"z1","extra":true}'), { status: 400 }, 'unknown fields at any place');
  t.equal(replies(), 0, 'the gateway received none of them');
  t.match(await send('{"action":"volume","level":55}'), { status: 200 });
  t.equal(replies(), 1);
  const rows = await server.db.auditEvent.findMany({ where: { action: 'POST /api/v1/stations/:code/commands' } });
  t.same(
    rows.map((r) => r.status),
    [400, 400, 400, 200],
    'every attempt has its row, the one that ran too',
  );
  t.doesNotThrow(() => redact(JSON.parse(`${'['.repeat(5000)}${']'.repeat(5000)}`)), 'redaction is iterative: no depth overflows it');
});

t.test('audit reads are scoped like every other read', async (t) => {
  // Phúc Xá (00001, in Ba Đình) and a Sóc Sơn commune elsewhere.
  const auditor = await signedInAs(server, 'auditor.phucxa', 'auditor', '00001');
  const operator = await signedInAs(server, 'operator.badinh', 'district_operator', '001');
  t.equal((await api(server, 'PATCH', '/stations/HN-00001', { speakerPoints: 7 }, operator)).status, 200, 'Ba Đình’s operator');
  t.equal((await api(server, 'PATCH', '/stations/HN-00001', { speakerPoints: 8 })).status, 200, 'the admin, about Phúc Xá');
  const other = (await api(server, 'GET', '/stations?unit=016&limit=1')).body.items as { code: string }[];
  const elsewhere = other[0]?.code as string;
  t.equal((await api(server, 'PATCH', `/stations/${elsewhere}`, { speakerPoints: 9 })).status, 200, 'the admin, about Sóc Sơn');
  const seen = await api(server, 'GET', '/audit?limit=5000', undefined, auditor);
  const items = seen.body.items as { action: string; params: string | null; username: string }[];
  const patches = items.filter((i) => i.action === 'PATCH /api/v1/stations/:code').map((i) => JSON.parse(i.params ?? '{}').code);
  t.same(patches, ['HN-00001', 'HN-00001'], 'the two changes about Phúc Xá, not the one about Sóc Sơn');
  t.notOk(
    items.some((i) => i.params?.includes(elsewhere)),
    'nothing about other districts',
  );
  const all = await api(server, 'GET', '/audit?limit=5000');
  t.ok(
    (all.body.total as number) > (seen.body.total as number),
    `the whole-tree reader sees ${all.body.total}, the scoped one ${seen.body.total}`,
  );
  t.match(await api(server, 'GET', '/audit/refused', undefined, auditor), { status: 403, body: { error: { code: 'OUT_OF_SCOPE' } } });
});

t.test('no secret reaches the audit log, by field name or by shape, from any route that returns one', async (t) => {
  const secrets: string[] = [];
  // From an address of its own: 127.0.0.1 guessed the admin's password in the first test and is blocked.
  const login = await fromAddress(server, '127.0.0.10')('POST', '/auth/login', { username: 'admin', password: 'correct-horse-battery' });
  secrets.push(login.body.token as string);
  const token = await signedInAs(server, 'admin.secrets', 'province_admin');
  const setup = await api(server, 'POST', '/auth/totp/setup', {}, token);
  secrets.push(setup.body.secret as string, setup.body.uri as string, encodeURIComponent(setup.body.secret as string));
  await signedInAs(server, 'stats.secrets', 'integration');
  const issued = await api(server, 'POST', '/tokens', { user: 'stats.secrets', name: 'x' });
  secrets.push(issued.body.token as string);
  secrets.push(await provisionDevice(server, 'HN-00031'));
  const reissued = await api(server, 'POST', '/devices/HN-00031/enrollment-token');
  secrets.push(reissued.body.enrollToken as string);
  const enrolled = await api(server, 'POST', '/gateway/enroll', {
    token: reissued.body.enrollToken,
    publicKeyHex: publicKeyHex(generateKeyPairSync('ed25519').publicKey),
    agentVersion: 'test',
    protocolVersions: [1],
  });
  secrets.push((enrolled.body.mqtt as { password: string }).password);
  const bulk = await api(server, 'POST', '/devices/provision', { stations: ['HN-00034'] });
  for (const c of (bulk.body.created as { enrollToken: string }[] | undefined) ?? []) secrets.push(c.enrollToken);
  secrets.push('a-long-password-1', 'correct-horse-battery');
  matchExact(
    t,
    secrets.map((s) => typeof s === 'string' && s.length >= 16),
    Array(secrets.length).fill(true),
    `${secrets.length} secrets collected`,
  );
  const rows = JSON.stringify(await server.db.$queryRawUnsafe('SELECT * FROM "AuditEvent"'));
  for (const s of secrets) t.notOk(rows.includes(s), `not in the log: ${String(s).slice(0, 6)}…`);
  t.match(rows, /\[redacted\]/);
});

t.test('behind a trusted reverse proxy, throttling judges the client in X-Forwarded-For, not the proxy', async (t) => {
  const proxied = await startTestServer({ env: { LP_TRUST_PROXY: '127.0.0.1' } });
  t.teardown(() => proxied.stop());
  const login = (client: string, password: string) =>
    fetch(`${proxied.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': client },
      body: JSON.stringify({ username: 'admin', password }),
    }).then((r) => r.status);
  const guesses = [];
  for (let i = 0; i < 25; i++) guesses.push(await login('203.0.113.7', `guess-${i}-guess`));
  t.equal(guesses.at(-1), 429, `the guessing client is blocked (${guesses.filter((s) => s === 429).length} × 429)`);
  t.equal(await login('203.0.113.8', 'correct-horse-battery'), 200, 'another client through the same proxy is not');
  const untrusted = await fromAddress(proxied, '127.0.0.2')('POST', '/auth/login', {
    username: 'admin',
    password: 'correct-horse-battery',
  });
  t.equal(untrusted.status, 200, 'an address that is not the proxy is judged by itself');
});
