// Logins: lockout after repeated wrong passwords (on a fake clock), and logout revoking the token.
import t from 'tap';
import { LOCKOUT } from '../../server/http/auth.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { startTestServer } from '../helpers/server.ts';

const clock = new FakeClock(Date.now());
const server = await startTestServer({ now: clock.date });
t.teardown(() => server.stop());
const call = async (method: string, path: string, body?: object, token?: string) => {
  const res = await fetch(`${server.url}/api/v1${path}`, {
    method,
    headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as { token?: string; error?: { code: string; message: string } } };
};
const PASSWORD = 'operator-password-1';
const login = (password: string, username = 'operator.lock') => call('POST', '/auth/login', { username, password });
t.equal(
  (await call('POST', '/users', { username: 'operator.lock', password: PASSWORD, role: 'commune_operator' }, server.token)).status,
  201,
);

t.test(
  `${LOCKOUT.failures} wrong passwords in a row lock the account for ${LOCKOUT.forMs / 60_000} minutes, even to the right one`,
  async (t) => {
    for (let i = 1; i < LOCKOUT.failures; i++)
      t.match(await login('wrong-password-xx'), { status: 401, body: { error: { code: 'BAD_CREDENTIALS' } } });
    t.equal((await login(PASSWORD)).status, 200, 'a good login before the limit resets the count');
    for (let i = 1; i < LOCKOUT.failures; i++) await login('wrong-password-xx');
    t.match(await login('wrong-password-xx'), { status: 401, body: { error: { code: 'BAD_CREDENTIALS' } } }, 'the failure that locks');
    t.match(await login(PASSWORD), { status: 429, body: { error: { code: 'ACCOUNT_LOCKED' } } });
    clock.advance(LOCKOUT.forMs - 1000);
    t.match(await login(PASSWORD), { status: 429 }, 'still locked a second before the end');
    clock.advance(1000);
    t.equal((await login(PASSWORD)).status, 200, 'open again once the lock has passed');
    t.match(await server.db.user.findUniqueOrThrow({ where: { username: 'operator.lock' } }), { failedLogins: 0, lockedUntil: null });
  },
);

t.test('an unknown username is refused like a wrong password, and locks nothing', async (t) => {
  for (let i = 0; i < LOCKOUT.failures + 1; i++)
    t.match(await login('whatever-password', 'no.such.user'), { status: 401, body: { error: { code: 'BAD_CREDENTIALS' } } });
});

t.test('logout revokes exactly that session', async (t) => {
  const a = (await login(PASSWORD)).body.token as string;
  const b = (await login(PASSWORD)).body.token as string;
  t.equal((await call('GET', '/stations?limit=1', undefined, a)).status, 200);
  t.equal((await call('POST', '/auth/logout', undefined, a)).status, 204);
  t.match(await call('GET', '/stations?limit=1', undefined, a), { status: 401, body: { error: { code: 'UNAUTHORIZED' } } });
  t.match(await call('POST', '/auth/logout', undefined, a), { status: 401 }, 'a revoked token cannot log out again');
  t.equal((await call('GET', '/stations?limit=1', undefined, b)).status, 200, 'the other session lives on');
  t.equal((await call('POST', '/auth/logout')).status, 401);
});
