// HTTP hardening: security headers on every answer, closed to other origins, bounded bodies.
import t from 'tap';
import { startTestServer } from '../helpers/server.ts';

const server = await startTestServer();
t.teardown(() => server.stop());

t.test('every answer carries the security headers', async (t) => {
  for (const path of ['/health', '/api/v1/stations?limit=1', '/api/v1/nope']) {
    const res = await fetch(`${server.url}${path}`, { headers: server.auth });
    t.equal(res.headers.get('x-content-type-options'), 'nosniff', path);
    t.equal(res.headers.get('x-frame-options'), 'SAMEORIGIN', path);
    t.equal(res.headers.get('referrer-policy'), 'no-referrer', path);
    t.equal(res.headers.get('cross-origin-resource-policy'), 'same-origin', path);
    t.notOk(res.headers.get('x-powered-by'), path);
  }
});

t.test('another site’s page cannot call the API: no CORS grant, preflight refused', async (t) => {
  const origin = { origin: 'https://evil.example' };
  const res = await fetch(`${server.url}/api/v1/stations?limit=1`, { headers: { ...server.auth, ...origin } });
  t.equal(res.status, 200, 'the server answers (a browser would then withhold it)');
  t.notOk(res.headers.get('access-control-allow-origin'));
  const preflight = await fetch(`${server.url}/api/v1/schedules`, {
    method: 'OPTIONS',
    headers: { ...origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
  });
  t.notOk(preflight.headers.get('access-control-allow-origin'));
  t.notOk(preflight.headers.get('access-control-allow-methods'));
});

t.test('an oversized JSON body is refused with a stable code, not read', async (t) => {
  const res = await fetch(`${server.url}/api/v1/schedules`, {
    method: 'POST',
    headers: { ...server.auth, 'content-type': 'application/json' },
    body: JSON.stringify({ mediaId: 'x'.repeat(2 * 1024 * 1024) }),
  });
  t.equal(res.status, 413);
  t.match(await res.json(), { error: { code: 'TOO_LARGE' } });
});
