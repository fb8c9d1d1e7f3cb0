// Second factor and machine access: TOTP for an administrator (on a fake clock: set up, confirm, required
// at login, a code used once, wrong codes count toward the lockout, reset by another administrator), API
// tokens for integrations (shown once, act as their user within its unit, expire, revoke), and the
// per-address login limit.
import t from 'tap';
import { THROTTLE } from '../../server/auth/throttle.ts';
import { totpCode } from '../../server/auth/totp.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { matchExact } from '../helpers/match.ts';
import { api, relogin, signedInAs, startTestServer } from '../helpers/server.ts';

const clock = new FakeClock(Date.now());
const server = await startTestServer({ now: clock.date });
t.teardown(() => server.stop());
const PASSWORD = 'a-long-password-1';
const login = (username: string, totp?: string) =>
  api(server, 'POST', '/auth/login', { username, password: PASSWORD, ...(totp ? { totp } : {}) }, '');

t.test('an administrator turns TOTP on; from then on a login needs a fresh code, each code works once', async (t) => {
  const token = await signedInAs(server, 'admin.totp', 'province_admin');
  const setup = await api(server, 'POST', '/auth/totp/setup', {}, token);
  matchExact(t, setup, { status: 200, body: { secret: /^[A-Z2-7]{32}$/, uri: /^otpauth:\/\/totp\/loaphuong:admin\.totp\?/ } });
  const secret = setup.body.secret as string;
  t.match(await login('admin.totp'), { status: 200 }, 'not required until confirmed');
  t.match(await api(server, 'POST', '/auth/totp/enable', { code: '000000' }, token), {
    status: 400,
    body: { error: { code: 'BAD_TOTP' } },
  });
  t.equal((await api(server, 'POST', '/auth/totp/enable', { code: totpCode(secret, clock.date()) }, token)).status, 204);
  t.match(await api(server, 'POST', '/auth/totp/setup', {}, token), { status: 409, body: { error: { code: 'TOTP_ENABLED' } } });

  t.match(await login('admin.totp'), { status: 401, body: { error: { code: 'TOTP_REQUIRED' } } });
  clock.advance(30_000);
  const code = totpCode(secret, clock.date());
  t.match(await login('admin.totp', code), { status: 200, body: { token: String } }, 'password and a fresh code');
  t.match(await login('admin.totp', code), { status: 401, body: { error: { code: 'BAD_TOTP' } } }, 'the same code again is a replay');
  clock.advance(30_000);
  t.match(await login('admin.totp', totpCode(secret, new Date(clock.now() - 10 * 60_000))), { status: 401 }, 'a code from ten minutes ago');
  t.match(await login('admin.totp', totpCode(secret, clock.date())), { status: 200 }, 'one step of drift is fine, and the next step works');

  for (let i = 0; i < THROTTLE.freeFailures; i++) await login('admin.totp', '123456');
  clock.advance(500);
  t.match(
    await login('admin.totp', totpCode(secret, clock.date())),
    { status: 429, body: { error: { code: 'LOGIN_THROTTLED' } } },
    'wrong codes throttle the source like wrong passwords',
  );

  t.equal((await api(server, 'POST', '/users/admin.totp/totp/reset')).status, 204, 'another administrator resets a lost phone');
  clock.advance(THROTTLE.maxDelayMs);
  t.match(await login('admin.totp'), { status: 200 }, 'password alone again');
  const stored = await server.db.user.findUniqueOrThrow({ where: { username: 'admin.totp' } });
  t.same([stored.totpSecret, stored.totpEnabledAt], [null, null]);
});

t.test('API tokens: issued to integration users, shown once, act within the user’s unit, expire and revoke', async (t) => {
  await signedInAs(server, 'stats.badinh', 'integration', '001');
  await signedInAs(server, 'operator.x', 'commune_operator', '00001');
  t.match(await api(server, 'POST', '/tokens', { user: 'operator.x', name: 'x' }), {
    status: 400,
    body: { error: { code: 'NOT_INTEGRATION' } },
  });
  const issued = await api(server, 'POST', '/tokens', { user: 'stats.badinh', name: 'Cổng thống kê quận', expiresInDays: 30 });
  t.match(issued, { status: 201, body: { token: /^lpt_/, user: 'stats.badinh', name: 'Cổng thống kê quận' } });
  const token = issued.body.token as string;
  const listed = await api(server, 'GET', '/tokens');
  t.notMatch(JSON.stringify(listed.body), token, 'never shown again');
  t.notOk(await server.db.apiToken.findFirst({ where: { tokenHash: token } }), 'only its hash is stored');

  const range = `from=${encodeURIComponent(new Date(clock.now() - 86_400_000).toISOString())}&to=${encodeURIComponent(clock.date().toISOString())}`;
  t.match(
    await api(server, 'GET', `/compliance/report?${range}`, undefined, token),
    { status: 200, body: { unit: '001' } },
    'reads its own district',
  );
  t.match(await api(server, 'GET', `/compliance/report?${range}&unit=016`, undefined, token), {
    status: 403,
    body: { error: { code: 'OUT_OF_SCOPE' } },
  });
  const schedule = { mediaId: 'any', startsAt: clock.date().toISOString(), stations: ['HN-00001'] };
  t.match(
    await api(server, 'POST', '/schedules', schedule, token),
    { status: 403, body: { error: { code: 'FORBIDDEN' } } },
    'an integration never schedules',
  );
  t.ok((await server.db.apiToken.findUniqueOrThrow({ where: { id: issued.body.id as string } })).lastUsedAt, 'last use recorded');
  const audit = await api(server, 'GET', '/audit?route=tokens&limit=50');
  t.notMatch(JSON.stringify(audit.body), token, 'the audit log has the issue, not the token');

  clock.advance(31 * 86_400_000);
  t.match(await api(server, 'GET', '/stations?limit=1', undefined, token), { status: 401 }, 'expired after 30 days');
  await relogin(server);
  const second = await api(server, 'POST', '/tokens', { user: 'stats.badinh', name: 'again' });
  t.match(await api(server, 'GET', '/stations?limit=1', undefined, second.body.token as string), { status: 200 });
  t.equal((await api(server, 'POST', `/tokens/${second.body.id}/revoke`)).status, 204);
  t.match(await api(server, 'GET', '/stations?limit=1', undefined, second.body.token as string), { status: 401 }, 'revoked');
  const district = await signedInAs(server, 'district.tok', 'district_operator', '001');
  t.match(
    await api(server, 'POST', '/tokens', { user: 'stats.badinh', name: 'y' }, district),
    { status: 403 },
    'only administrators issue tokens',
  );
});

t.test('one address gets a limited number of login attempts a minute, whichever accounts it tries', async (t) => {
  // The helper's own admin login is the first of the four.
  const limited = await startTestServer({ env: { LP_LOGINS_PER_MINUTE: '4' } });
  t.teardown(() => limited.stop());
  const attempt = (username: string) => api(limited, 'POST', '/auth/login', { username, password: 'wrong-password' }, '');
  for (const name of ['a.one', 'b.two', 'c.three']) t.match(await attempt(name), { status: 401 });
  t.match(await attempt('d.four'), { status: 429, body: { error: { code: 'RATE_LIMITED' } } });
});
