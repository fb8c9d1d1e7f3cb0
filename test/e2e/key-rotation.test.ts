// [P-4.7] Rotating the server's signing key with overlap, with a real agent: the next key is announced
// in signed manifests and stored by the gateway; promotion waits until every enrolled gateway has
// confirmed it; after promotion the gateway accepts manifests and commands signed with the new key,
// trusts the old one for the overlap only, and the key files stay private.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { PREVIOUS_KEY_OVERLAP_MS } from '../../server/keys.ts';
import { onlineAgent } from '../helpers/agent.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { matchExact } from '../helpers/match.ts';
import { api, enrollDevice, relogin, sendCommand, signedInAs, startTestServer, untilAcked } from '../helpers/server.ts';

const clock = new FakeClock(Date.now());
const server = await startTestServer({ now: clock.date });
t.teardown(() => server.stop());
type Keys = {
  active: string;
  next: string | null;
  previous: string | null;
  trusted: { kid: string; validUntil?: string }[];
  pending: string[];
};

t.test('announce, confirm, promote: the gateway follows; a gateway that has not confirmed blocks the switch', async (t) => {
  const station = 'HN-00043';
  const gw = await onlineAgent(t, { station, server, clock });
  const agent = gw.agent.inspect().ctx;
  const delivered = (since: Date) => async () =>
    (await server.db.manifestDelivery.count({ where: { device: agent.device, status: 'delivered', publishedAt: { gte: since } } })) > 0;
  await untilAcked(server, delivered(new Date(0)));
  const silent = await enrollDevice(server, 'HN-00046'); // enrolled, never connects

  const before = (await api(server, 'GET', '/keys')).body as unknown as Keys;
  t.match(before, { next: null, previous: null });
  t.same(before.pending, [], 'no gateway is waiting for a key');
  t.same(
    agent.state.serverKeys.map((k) => k.kid),
    [before.active],
    'one trusted key from enrollment',
  );

  clock.advance(1000);
  const announcedAt = clock.date();
  const rotated = await api(server, 'POST', '/keys/rotate');
  t.equal(rotated.status, 200);
  const next = (rotated.body as unknown as Keys).next as string;
  t.ok(next && next !== before.active, `next key ${next} announced`);
  t.ok((rotated.body.manifests as number) >= 579, 'every station’s manifest republished');
  await untilAcked(server, delivered(announcedAt));
  t.same(agent.state.serverKeys.map((k) => k.kid).sort(), [before.active, next].sort(), 'the gateway stored both keys');
  t.match(await api(server, 'POST', '/keys/rotate'), { status: 409, body: { error: { code: 'ROTATION_UNDER_WAY' } } });

  const refused = await api(server, 'POST', '/keys/promote', {});
  matchExact(
    t,
    refused,
    { status: 409, body: { error: { code: 'ROTATION_NOT_CONFIRMED', details: { pending: [silent.device] } } } },
    'the silent gateway blocks it',
  );
  t.equal(server.key.signer.kid, before.active, 'still signing with the old key');
  t.equal((await api(server, 'POST', `/devices/${silent.device}/revoke`)).status, 204, 'decommissioned');

  clock.advance(1000);
  const promotedAt = clock.date();
  const promoted = await api(server, 'POST', '/keys/promote', {});
  t.match(promoted, { status: 200, body: { active: next, next: null, previous: before.active } });
  t.same((promoted.body as unknown as Keys).pending, [], 'every gateway has the new key');
  t.equal(server.key.signer.kid, next, 'signing with the new key');
  await untilAcked(server, delivered(promotedAt));
  t.pass('the gateway applied a manifest signed with the new key');
  t.match(await sendCommand(server, station, { action: 'self-test' }), { status: 200, body: { ok: true } }, 'and obeys its commands');
  const trusted = (promoted.body as unknown as Keys).trusted;
  t.match(
    trusted.find((k) => k.kid === before.active),
    { validUntil: new Date(promotedAt.getTime() + PREVIOUS_KEY_OVERLAP_MS).toISOString() },
  );
  t.same(agent.state.serverKeys.map((k) => k.kid).sort(), [before.active, next].sort(), 'old key kept for the overlap');

  clock.advance(PREVIOUS_KEY_OVERLAP_MS + 1000);
  t.same(
    server.key.trusted().map((k) => k.kid),
    [next],
    'after the overlap only the new key is announced',
  );

  const keys = join(server.dataDir, 'keys');
  t.equal(statSync(keys).mode & 0o777, 0o700, 'key directory 0700');
  for (const file of ['server-ed25519.pem', 'server-ed25519.previous.pem'])
    t.equal(statSync(join(keys, file)).mode & 0o777, 0o600, `${file} 0600`);
});

t.test('only a whole-tree administrator rotates keys', async (t) => {
  await relogin(server); // the clock moved a week: the admin's session has expired
  const token = await signedInAs(server, 'op.keys', 'district_operator', '001');
  t.match(await api(server, 'POST', '/keys/rotate', undefined, token), { status: 403 });
  t.match(await api(server, 'GET', '/keys', undefined, token), { status: 403 });
});
