// Relays (tiếp sóng, [P-5.11]) through the whole system: a relay item created over the API (its URLs checked as far
// as the server may reach them), approved and scheduled like any item, compiled into the gateway's plan with its
// fallback file, played by a real agent from real HTTP MP3 upstreams, the primary killed mid-slot, the secondary
// heard, the slot ended on time, and the proof stored with its segments. Bad URLs get stable codes at creation; a
// private address outside the allow-list is never contacted by the server.
import { once } from 'node:events';
import { join } from 'node:path';
import t from 'tap';
import { systemClock } from '../../edge-agent/clock.ts';
import { onlineAgent } from '../helpers/agent.ts';
import { makeTone } from '../helpers/audio.ts';
import { api, approve, scheduleItem, startTestServer, uploadApproved } from '../helpers/server.ts';
import { startUpstream } from '../helpers/upstream.ts';

// The upstreams run on loopback: the administrator allows it, as a province allows its radio server's address.
const server = await startTestServer({ env: { LP_RELAY_ALLOW: '127.0.0.1/32' } });
t.teardown(() => server.stop());
const { body: fallback } = await uploadApproved(server, makeTone(join(server.dataDir, 'fb.wav'), { seconds: 3, frequency: 330 }));
const relay = (urls: string[], extra: object = {}) =>
  api(server, 'POST', '/media/relays', {
    title: 'VOV1 thời sự',
    urls,
    durationMs: 14_000,
    fallbackMediaId: fallback.id,
    deadAirS: 3,
    ...extra,
  });

t.test(
  'scheduled like any item: the gateway relays the primary, switches when it dies, ends on time, and the proof is stored',
  async (t) => {
    const primary = await startUpstream({ frequency: 440 });
    const secondary = await startUpstream({ frequency: 880 });
    t.teardown(() => Promise.all([primary.kill(), secondary.kill()]));
    const created = await relay([primary.url, secondary.url]);
    t.equal(created.status, 201, JSON.stringify(created.body));
    const item = (created.body as { item: { id: string; durationMs: number; relay: object; status: string } }).item;
    t.match(item, { durationMs: 14_000, status: 'draft', relay: { urls: [primary.url, secondary.url], mode: 'direct', deadAirMs: 3000 } });
    t.match(created.body.checks, [
      { checked: true, codec: 'mp3' },
      { checked: true, codec: 'mp3' },
    ]);
    await approve(server, item.id);
    const gw = await onlineAgent(t, { station: 'HN-00001', server, clock: systemClock });
    const stored: string[] = [];
    server.reports.events.on('handled', (outcome: string, kind: string) => stored.push(`${outcome}:${kind}`));
    const startsAt = Date.now() + 4000;
    const occurrenceId = await scheduleItem(server, item.id, 'HN-00001', startsAt);
    const armed = await gw.waitFor('armed', (e) => e.occurrenceId === occurrenceId);
    t.equal(armed.at, startsAt);
    const planned = gw.agent.inspect().ctx.state.manifest?.entries.find((e) => e.occurrenceId === occurrenceId);
    t.match(
      planned,
      { media: { sha256: fallback.sha256 }, relay: { urls: [primary.url, secondary.url], slotMs: 14_000 } },
      'the plan carries the stream and its fallback',
    );
    await gw.waitFor('on-air', (e) => e.occurrenceId === occurrenceId);
    await primary.kill();
    await gw.waitFor('relay', (e) => e.occurrenceId === occurrenceId && e.segment.source === 0);
    const done = await gw.waitFor('finished', (e) => e.occurrenceId === occurrenceId);
    t.equal(done.report.kind, 'playback.completed');
    t.same(
      done.report.relay?.map((s) => s.source),
      [0, 1],
      'the primary, then the secondary to the end',
    );
    t.ok(Math.abs(Date.parse(done.report.endedAt as string) - (startsAt + 14_000)) < 500, 'the slot ends on time');
    while (!stored.includes('stored:playback.completed')) await once(server.reports.events, 'handled');
    const occ = await api(server, 'GET', `/occurrences/${occurrenceId}`);
    // What a switch costs is on the record: the gap between sources is air the slot did not get. How long a
    // switch takes is a figure of the live bench (relay_switch_ms), not a deadline here: on a loaded machine
    // the real-clock switch alone has taken over 3 s.
    const played = done.report.playedMs ?? 0;
    const segments = done.report.relay ?? [];
    t.equal(
      played,
      segments.reduce((n, s) => n + s.playedMs, 0),
      `played ${played} ms of the 14 s slot: the sum of its segments`,
    );
    t.ok(played <= 14_000 + 500, 'no more than the slot');
    t.match(segments[1], { source: 1, reason: 'SLOT_END' }, 'the secondary carried the slot to its end');
    t.ok((segments[1]?.playedMs ?? 0) > 0, 'with sound');
    t.match(occ.body, { playedMs: played, status: played >= 0.98 * 14_000 ? 'aired' : 'partial' }, 'the proof is judged against the slot');
  },
);

t.test('bad upstreams get a stable code when the relay is created', async (t) => {
  const page = await startUpstream({
    respond: (res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>VOV</html>');
    },
  });
  const loop = await startUpstream({
    respond: (res, path) => {
      res.writeHead(302, { location: `${path}x` });
      res.end();
    },
  });
  const wav = await startUpstream({
    respond: (res) => {
      res.writeHead(200, { 'content-type': 'audio/wav' });
      res.end(Buffer.concat([wavHeader(), Buffer.alloc(48_000)]));
    },
  });
  const gone = await startUpstream({ frequency: 440 });
  await gone.kill();
  t.teardown(() => Promise.all([page.kill(), loop.kill(), wav.kill()]));
  t.match(await relay([page.url]), { status: 400, body: { error: { code: 'RELAY_NOT_A_STREAM' } } }, 'a web page');
  t.match(await relay([loop.url]), { status: 400, body: { error: { code: 'RELAY_REDIRECT_LOOP' } } }, 'an endless redirect');
  t.match(await relay([wav.url]), { status: 400, body: { error: { code: 'RELAY_UNSUPPORTED_CODEC' } } }, 'PCM that gateways do not relay');
  t.match(await relay(['ftp://127.0.0.1/x.mp3']), { status: 400, body: { error: { code: 'INVALID_RELAY_URL' } } });
  t.match(await relay([page.url], { mode: 'via-server' }), { status: 400, body: { error: { code: 'RELAY_MODE_UNSUPPORTED' } } });
  t.match(await relay([page.url], { fallbackMediaId: 'nope' }), { status: 404, body: { error: { code: 'UNKNOWN_MEDIA' } } });
  const down = await relay([gone.url]);
  t.match(
    down,
    { status: 201, body: { checks: [{ checked: false, reason: 'UNREACHABLE' }] } },
    'a station off the air now is kept, said unchecked',
  );
});

t.test('a private address outside the allow-list is stored unchecked, and the server never connects to it', async (t) => {
  const strict = await startTestServer();
  t.teardown(() => strict.stop());
  let requests = 0;
  const inside = await startUpstream({
    respond: (res) => {
      requests += 1;
      res.writeHead(200, { 'content-type': 'audio/mpeg' });
      res.end();
    },
  });
  t.teardown(() => inside.kill());
  const { body: fb } = await uploadApproved(strict, makeTone(join(strict.dataDir, 'fb.wav'), { seconds: 2 }));
  const r = await api(strict, 'POST', '/media/relays', {
    title: 'Đài tỉnh',
    urls: [inside.url],
    durationMs: 60_000,
    fallbackMediaId: fb.id,
  });
  t.match(r, { status: 201, body: { checks: [{ checked: false, reason: 'ADDRESS_NOT_ALLOWED' }] } });
  t.equal(requests, 0, 'no request reached the private address');
  // A public name that resolves to a private address is the same address.
  const named = await api(strict, 'POST', '/media/relays', {
    title: 'Đài tỉnh',
    urls: [inside.url.replace('127.0.0.1', 'localhost')],
    durationMs: 60_000,
    fallbackMediaId: fb.id,
  });
  t.match(named, { status: 201, body: { checks: [{ checked: false, reason: 'ADDRESS_NOT_ALLOWED' }] } });
  t.equal(requests, 0);
});

/** A WAV header for 16-bit mono PCM at 48 kHz (the length left open, as a stream's is). */
function wavHeader(): Buffer {
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.writeUInt32LE(0xffffffff, 4);
  h.write('WAVEfmt ', 8);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(48_000, 24);
  h.writeUInt32LE(96_000, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36);
  h.writeUInt32LE(0xffffffff, 40);
  return h;
}
