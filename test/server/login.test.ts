// Logins: failures throttle their source, never the account (on a fake clock, from several loopback
// addresses), and logout revokes the token.
import t from 'tap';
import { delayAfter, THROTTLE } from '../../server/auth/throttle.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { fromAddress, startTestServer } from '../helpers/server.ts';

const clock = new FakeClock(Date.now());
const server = await startTestServer({ now: clock.date });
t.teardown(() => server.stop());
const local = fromAddress(server, '127.0.0.1');
const attacker = fromAddress(server, '127.0.0.2');
const owner = fromAddress(server, '127.0.0.3');
const PASSWORD = 'operator-password-1';
const login = (from: typeof local, password: string, username = 'operator.lock') => from('POST', '/auth/login', { username, password });
t.equal(
  (await local('POST', '/users', { username: 'operator.lock', password: PASSWORD, role: 'commune_operator' }, server.token)).status,
  201,
);

t.test('each failure from an address makes its next try on that account wait longer; the owner elsewhere is not held up', async (t) => {
  for (let i = 0; i < THROTTLE.freeFailures; i++)
    t.match(await login(attacker, 'wrong-password-xx'), { status: 401, body: { error: { code: 'BAD_CREDENTIALS' } } });
  const refused = await login(attacker, PASSWORD);
  t.match(
    refused,
    { status: 429, body: { error: { code: 'LOGIN_THROTTLED', details: { retryAfterS: 1 } } } },
    'even the right password waits',
  );
  t.match(await login(owner, PASSWORD), { status: 200, body: { token: String } }, 'the owner from another address signs in');
  clock.advance(delayAfter(THROTTLE.freeFailures));
  t.match(await login(attacker, 'wrong-password-xx'), { status: 401 }, 'after the wait, one more try');
  t.match(await login(attacker, 'wrong-password-xx'), { status: 429 }, 'then a longer wait');
  clock.advance(delayAfter(THROTTLE.freeFailures + 1) - 1);
  t.match(await login(attacker, PASSWORD), { status: 429 }, 'still waiting a millisecond before the end');
  clock.advance(1);
  t.match(await login(attacker, PASSWORD), { status: 200 }, 'the right password after the wait signs in, and clears the count');
  t.match(await login(attacker, 'wrong-password-xx'), { status: 401 });
  t.match(await login(attacker, PASSWORD), { status: 200 }, 'a fresh count: the first failures are free again');
  t.equal(delayAfter(100), THROTTLE.maxDelayMs, 'the wait stops growing at its ceiling');
});

t.test('an address failing on many accounts is blocked as a whole, others are not', async (t) => {
  const spray = fromAddress(server, '127.0.0.4');
  for (let i = 0; i < THROTTLE.sourceFailures; i++)
    t.match(await login(spray, 'guess', `user.${i}`), { status: 401 }, `guess ${i + 1} on another account`);
  t.match(await login(spray, PASSWORD), { status: 429, body: { error: { code: 'SOURCE_BLOCKED' } } }, 'blocked for every account');
  t.match(await login(owner, PASSWORD), { status: 200 }, 'another address is not');
  clock.advance(THROTTLE.sourceBlockMs);
  t.match(await login(spray, PASSWORD), { status: 200 }, 'open again once the block has passed');
});

t.test('an unknown username is refused like a wrong password', async (t) => {
  const other = fromAddress(server, '127.0.0.5');
  for (let i = 0; i < THROTTLE.freeFailures; i++)
    t.match(await login(other, 'whatever-password', 'no.such.user'), { status: 401, body: { error: { code: 'BAD_CREDENTIALS' } } });
  t.match(
    await login(other, 'whatever-password', 'no.such.user'),
    { status: 429, body: { error: { code: 'LOGIN_THROTTLED' } } },
    'throttled alike: no way to tell which names exist',
  );
});

t.test('counters untouched for a day are forgotten', async (t) => {
  clock.advance(THROTTLE.forgetAfterMs + 1);
  const { LoginThrottle } = await import('../../server/auth/throttle.ts');
  const forgotten = await new LoginThrottle({ db: server.db, now: clock.date }).sweep();
  t.ok(forgotten > 0);
  t.equal(await server.db.loginThrottle.count(), 0);
});

t.test('logout revokes exactly that session', async (t) => {
  const a = (await login(local, PASSWORD)).body.token as string;
  const b = (await login(local, PASSWORD)).body.token as string;
  t.equal((await local('GET', '/stations?limit=1', undefined, a)).status, 200);
  t.equal((await local('POST', '/auth/logout', undefined, a)).status, 204);
  t.match(await local('GET', '/stations?limit=1', undefined, a), { status: 401, body: { error: { code: 'UNAUTHORIZED' } } });
  t.match(await local('POST', '/auth/logout', undefined, a), { status: 401 }, 'a revoked token cannot log out again');
  t.equal((await local('GET', '/stations?limit=1', undefined, b)).status, 200, 'the other session lives on');
  t.equal((await local('POST', '/auth/logout')).status, 401);
});
