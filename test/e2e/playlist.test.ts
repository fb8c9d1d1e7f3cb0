// A playlist is built from approved items, laid out with its gaps, scheduled like one item, and
// aired item after item by a gateway.
import { join } from 'node:path';
import t from 'tap';
import { onlineAgent } from '../helpers/agent.ts';
import { makeTone } from '../helpers/audio.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { matchExact } from '../helpers/match.ts';
import { startTestServer, upload, uploadApproved } from '../helpers/server.ts';

const clock = new FakeClock(Date.now());
const server = await startTestServer({ now: clock.date });
t.teardown(() => server.stop());
const post = async (path: string, body: unknown, method = 'POST') => {
  const res = await fetch(`${server.url}/api/v1${path}`, {
    method,
    headers: { ...server.auth, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & { error?: { code: string } } };
};
const items: Record<string, unknown>[] = [];
for (const hz of [400, 500, 600])
  items.push((await uploadApproved(server, makeTone(join(server.dataDir, `pl-${hz}.wav`), { seconds: 1, frequency: hz }))).body);

t.test('a playlist computes its offsets and total duration', async (t) => {
  const r = await post('/playlists', {
    title: 'Chương trình sáng',
    items: [{ mediaId: items[0].id, gapAfterMs: 500 }, { mediaId: items[1].id }, { mediaId: items[2].id, gapAfterMs: 9000 }],
  });
  t.equal(r.status, 201);
  const d = items.map((i) => i.durationMs as number);
  t.equal(r.body.totalDurationMs, d[0] + 500 + d[1] + d[2], 'the gap after the last item does not count');
  t.same(
    (r.body.items as { offsetMs: number }[]).map((i) => i.offsetMs),
    [0, d[0] + 500, d[0] + 500 + d[1]],
  );
  t.match(await post('/playlists', { title: 'x', items: [] }), { status: 400 });
  t.match(await post('/playlists', { title: 'x', items: [{ mediaId: 'nope' }] }), {
    status: 404,
    body: { error: { code: 'UNKNOWN_MEDIA' } },
  });
});

t.test('scheduling needs exactly one of item or playlist, and every playlist item approved', async (t) => {
  const draft = (await upload(server, makeTone(join(server.dataDir, 'pl-draft.wav'), { seconds: 1, frequency: 700 }))).body;
  const withDraft = await post('/playlists', { title: 'có bản nháp', items: [{ mediaId: items[0].id }, { mediaId: draft.id }] });
  const startsAt = new Date(clock.now() + 3600_000).toISOString();
  t.match(await post('/schedules', { playlistId: withDraft.body.id, stations: ['HN-00031'], startsAt }), {
    status: 409,
    body: { error: { code: 'MEDIA_NOT_APPROVED' } },
  });
  t.match(await post('/schedules', { stations: ['HN-00031'], startsAt }), { status: 400, body: { error: { code: 'MEDIA_OR_PLAYLIST' } } });
  t.match(await post('/schedules', { mediaId: items[0].id, playlistId: withDraft.body.id, stations: ['HN-00031'], startsAt }), {
    status: 400,
    body: { error: { code: 'MEDIA_OR_PLAYLIST' } },
  });
  const edited = await post(`/playlists/${withDraft.body.id}/items`, [{ mediaId: items[1].id }], 'PUT');
  matchExact(t, edited, { status: 200, body: { items: [{ mediaId: items[1].id, position: 0 }] } }, 'items can be replaced');
});

t.test('a scheduled playlist airs item after item on the gateway', async (t) => {
  const station = 'HN-00034';
  const gw = await onlineAgent(t, { station, server, clock });
  const pl = await post('/playlists', {
    title: 'Bản tin tối',
    items: [{ mediaId: items[0].id, gapAfterMs: 2000 }, { mediaId: items[1].id }],
  });
  const startsAt = clock.now() + 600_000;
  const s = await post('/schedules', { playlistId: pl.body.id, stations: [station], startsAt: new Date(startsAt).toISOString() });
  t.equal(s.status, 201);
  const occ = s.body.occurrences as { id: string; startsAt: string; position: number }[];
  t.same(
    occ.map((o) => [o.position, Date.parse(o.startsAt) - startsAt]),
    [
      [0, 0],
      [1, (items[0].durationMs as number) + 2000],
    ],
  );
  await gw.waitFor('armed', (e) => e.occurrenceId === occ[1].id);
  await gw.waitFor('cached', (e) => e.sha256 === items[1].sha256);
  clock.advanceTo(startsAt);
  t.equal((await gw.waitFor('finished', (e) => e.occurrenceId === occ[0].id)).report.kind, 'playback.completed');
  clock.advanceTo(Date.parse(occ[1].startsAt));
  const second = await gw.waitFor('started', (e) => e.occurrenceId === occ[1].id);
  t.equal(second.at, Date.parse(occ[1].startsAt), 'the second item starts at its own offset');
  t.equal((await gw.waitFor('finished', (e) => e.occurrenceId === occ[1].id)).report.kind, 'playback.completed');
});
