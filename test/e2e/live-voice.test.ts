// Live voice [P-5.6], [P-8] end to end on real parts: a speaker's WebSocket, the server signing each 20 ms Opus
// frame onto the district's live topic, the embedded broker, two real agents of the district (and one of
// another, which must stay silent) decoding through their jitter buffers into ffmpeg. The airings are proved
// like any other and the server keeps the recording. Live audio is real time: the agents run on the system
// clock, and the test speaks at the pace of a microphone (one frame per 20 ms), waiting on events only.
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import WebSocket from 'ws';
import { openOpusCodec, pcmBytes } from '#protocol';
import { systemClock } from '../../edge-agent/clock.ts';
import { mediaRef, onlineAgent } from '../helpers/agent.ts';
import { makeTone } from '../helpers/audio.ts';
import { api, signedInAs, startTestServer, uploadApproved } from '../helpers/server.ts';

const server = await startTestServer();
t.teardown(() => server.stop());

const stations = await server.db.station.findMany({ include: { unit: { include: { parent: true } } }, orderBy: { code: 'asc' } });
const first = stations[0] as (typeof stations)[number];
const district = first.unit.parent?.code as string;
const inDistrict = stations.filter((s) => s.unit.parent?.code === district).slice(0, 2);
const elsewhere = stations.find((s) => s.unit.parent?.code !== district) as (typeof stations)[number];
// A 200 ms floor under the playout delay: the test's own sender runs on a loaded CI machine, and a hole its
// timers make would be concealed (the adaptive floor of 40 ms is measured by `npm run bench -- live`).
const options = { liveJitter: { minMs: 200 } };
const [a, b, c] = await Promise.all(
  [...inDistrict, elsewhere].map((s) => onlineAgent(t, { station: s.code, server, clock: systemClock, options })),
);
if (!a || !b || !c) throw new Error('agents did not start');
for (const gw of [a, b, c]) await gw.waitFor('manifest');
const operator = await signedInAs(server, 'voice.district', 'district_operator', district);

type Msg = { type: string; [k: string]: unknown };
/** A speaker's socket with its messages queued, so none is missed between awaits. */
async function speaker(token = operator, headers: Record<string, string> = {}) {
  const ws = new WebSocket(`${server.url.replace('http', 'ws')}/api/v1/voice/ws`, {
    headers: { authorization: `Bearer ${token}`, ...headers },
  });
  const inbox: Msg[] = [];
  const waiting: { pred: (m: Msg) => boolean; resolve: (m: Msg) => void }[] = [];
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString()) as Msg;
    const w = waiting.find((x) => x.pred(m));
    if (w) {
      waiting.splice(waiting.indexOf(w), 1);
      w.resolve(m);
    } else inbox.push(m);
  });
  await once(ws, 'open');
  const next = (type: string) =>
    new Promise<Msg>((resolve) => {
      const i = inbox.findIndex((m) => m.type === type);
      if (i >= 0) return resolve(inbox.splice(i, 1)[0] as Msg);
      waiting.push({ pred: (m) => m.type === type, resolve });
    });
  return { ws, next, send: (m: object) => ws.send(JSON.stringify(m)) };
}

/** `seconds` of a tone as 20 ms Opus packets, as a browser's WebCodecs encoder would send them. */
async function tonePackets(seconds: number, hz = 440): Promise<Buffer[]> {
  const codec = await openOpusCodec();
  const packets: Buffer[] = [];
  const samples = pcmBytes(20) / 2;
  for (let f = 0; f < (seconds * 1000) / 20; f++) {
    const pcm = Buffer.alloc(samples * 2);
    for (let i = 0; i < samples; i++)
      pcm.writeInt16LE(Math.round(12000 * Math.sin((2 * Math.PI * hz * (f * samples + i)) / 48_000)), i * 2);
    packets.push(codec.encode(pcm));
  }
  return packets;
}

/** Sends the packets at a microphone's pace: one every 20 ms on the real clock. */
async function speak(ws: WebSocket, packets: Buffer[]): Promise<void> {
  const start = Date.now();
  for (let i = 0; i < packets.length; i++) {
    const due = start + i * 20 - Date.now();
    if (due > 0) await new Promise((r) => setTimeout(r, due));
    ws.send(packets[i] as Buffer);
  }
}

t.test(
  'spoken to a district: both gateways there play it through the jitter buffer, the one elsewhere stays silent, all proved',
  async (t) => {
    let completed = 0;
    const counting = (outcome: string, kind: string) => outcome === 'stored' && kind === 'playback.completed' && completed++;
    server.reports.events.on('handled', counting);
    t.teardown(() => server.reports.events.off('handled', counting));
    const talk = await speaker();
    talk.send({ type: 'start', area: { units: [district] }, codec: 'opus' });
    const started = await talk.next('started');
    t.match(started, { stations: stations.filter((s) => s.unit.parent?.code === district).length, frameMs: 20 });
    const airing = started.airing as string;
    await speak(talk.ws, await tonePackets(3));
    talk.send({ type: 'stop' });
    const ended = await talk.next('ended');
    t.match(ended, { reason: 'stopped' });
    for (const gw of [a, b]) {
      const station = gw.agent.identity().station;
      const done = await gw.waitFor('finished', (e) => e.occurrenceId === `${airing}@${station}`);
      const r = done.report;
      t.equal(r.kind, 'playback.completed', `${station} completed`);
      t.notOk(r.reason, 'ended by the last frame, not a gap');
      t.ok((r.playedMs ?? 0) >= 2900 && (r.playedMs ?? 0) <= 3300, `${station} played ${r.playedMs} ms of 3 s`);
      t.equal(r.expectedMs, 3020, 'the stream as the gateway knew it: 150 frames and the last');
      t.ok((r.live?.framesPlayed ?? 0) >= 145, `${r.live?.framesPlayed} frames played`);
      t.ok((r.level?.rmsDbfs ?? -200) > -20, `audible: ${r.level?.rmsDbfs} dBFS`);
      const live = gw.events.filter((e) => e.type === 'live').map((e) => (e.type === 'live' ? e.state : ''));
      t.same(live.slice(0, 3), ['ready', 'on-air', 'ended']);
    }
    t.notOk(
      c.events.some((e) => e.type === 'live'),
      'a gateway of another district never hears it',
    );
    // The proofs reach the server: every airing of the broadcast ends as aired.
    const count = stations.filter((s) => s.unit.parent?.code === district).length;
    while (completed < 2) await once(server.reports.events, 'handled');
    const rows = (await api(server, 'GET', '/voice/broadcasts', undefined, operator)).body as unknown as {
      id: string;
      asRun: Record<string, number>;
    }[];
    t.match(rows[0], { speaker: 'voice.district', durationMs: 3000, asRun: { aired: 2 } }, JSON.stringify(rows[0]?.asRun));
    t.equal(rows[0]?.asRun.pending ?? 0, count - 2, 'the stations without a gateway stay pending until their window closes');
    // The recording: an Ogg Opus file of what was said.
    const res = await fetch(`${server.url}/api/v1/voice/broadcasts/${rows[0]?.id}/recording`, {
      headers: { authorization: `Bearer ${operator}` },
    });
    t.equal(res.status, 200);
    t.equal(res.headers.get('content-type'), 'audio/ogg');
    const file = join(server.dataDir, 'recording.ogg');
    writeFileSync(file, Buffer.from(await res.arrayBuffer()));
    const probe = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-show_streams', '-show_format', '-of', 'json', file]).toString());
    t.equal(probe.streams[0].codec_name, 'opus');
    t.ok(Math.abs(Number(probe.format.duration) - 3) < 0.2, `recording lasts ${probe.format.duration} s`);
  },
);

t.test('live speech cuts what plays (PREEMPTED); a lost speaker connection ends it everywhere with a last frame', async (t) => {
  const { body: item } = await uploadApproved(server, makeTone(join(server.dataDir, 'v-talk.wav'), { seconds: 20, frequency: 300 }));
  const station = a.agent.identity().station;
  t.equal(
    (await server.commands.send(station, { action: 'play-now', occurrenceId: 'v-item', priority: 'priority', media: mediaRef(item) })).ok,
    true,
  );
  await a.waitFor('started', (e) => e.occurrenceId === 'v-item');
  const talk = await speaker();
  talk.send({ type: 'start', area: { stations: [station] }, codec: 'opus' });
  const started = await talk.next('started');
  t.equal(started.stations, 1);
  const cut = await Promise.all([a.waitFor('finished', (e) => e.occurrenceId === 'v-item'), speak(talk.ws, await tonePackets(1))]);
  t.match(cut[0].report, { kind: 'playback.completed', reason: 'PREEMPTED' });
  // The phone loses its network: the socket dies without a stop.
  const stored = once(server.voice.events, 'ended');
  talk.ws.terminate();
  const ended = await a.waitFor('live', (e) => e.state === 'ended' && e.streamId === started.streamId);
  t.ok(ended.why === 'last' || ended.why === 'stopped', `ended by the server (${ended.why}), not by the gateway's 5 s gap`);
  const done = await a.waitFor('finished', (e) => e.occurrenceId === `${started.airing}@${station}`);
  t.equal(done.report.kind, 'playback.completed');
  t.same((await stored).slice(1), ['lost']);
  const rows = (await api(server, 'GET', '/voice/broadcasts', undefined, operator)).body as unknown as { endReason: string }[];
  t.equal(rows[0]?.endReason, 'lost', 'the broadcast says the speaker was lost');
});

t.test('an emergency cuts live speech; a live.start during an emergency is answered BUSY and reported', async (t) => {
  const { body: siren } = await uploadApproved(server, makeTone(join(server.dataDir, 'v-siren.wav'), { seconds: 30, frequency: 1200 }));
  const station = b.agent.identity().station;
  const talk = await speaker();
  talk.send({ type: 'start', area: { stations: [station] }, codec: 'opus' });
  const started = await talk.next('started');
  const speaking = speak(talk.ws, await tonePackets(4));
  await b.waitFor('live', (e) => e.state === 'on-air' && e.streamId === started.streamId);
  t.equal((await server.commands.send(station, { action: 'emergency.start', occurrenceId: 'v-em', media: mediaRef(siren) })).ok, true);
  const cut = await b.waitFor('finished', (e) => e.occurrenceId === `${started.airing}@${station}`);
  t.equal(cut.report.reason, 'PREEMPTED', 'the live airing says the emergency cut it');
  await b.waitFor('started', (e) => e.occurrenceId === 'v-em');
  await speaking;
  talk.send({ type: 'stop' });
  await talk.next('ended');

  // A second speaker while the siren plays: the gateway refuses and says so in a report.
  const late = await speaker();
  late.send({ type: 'start', area: { stations: [station] }, codec: 'opus' });
  const second = await late.next('started');
  const refused = await b.waitFor('finished', (e) => e.occurrenceId === `${second.airing}@${station}`);
  t.match(refused.report, { kind: 'playback.failed', reason: 'CONFLICT' });
  const status = await late.next('status');
  t.match(status, { refused: { BUSY: 1 } }, 'the speaker sees the refusal');
  late.send({ type: 'stop' });
  await late.next('ended');
  t.equal((await server.commands.send(station, { action: 'emergency.cancel', occurrenceId: 'v-em' })).ok, true);
  await b.waitFor('finished', (e) => e.occurrenceId === 'v-em');
});

t.test('bad input gets a stable code and loses nothing; other origins and other roles are refused', async (t) => {
  const talk = await speaker();
  talk.ws.send(Buffer.from([1, 2, 3]));
  t.match(await talk.next('error'), { code: 'NOT_STARTED' });
  talk.ws.send('{not json');
  t.match(await talk.next('error'), { code: 'INVALID_MESSAGE' });
  talk.send({ type: 'start', area: { units: ['no-such-unit'] } });
  t.match(await talk.next('error'), { code: 'UNKNOWN_UNIT' });
  talk.send({ type: 'start', area: { units: [elsewhere.unit.code] } });
  t.match(await talk.next('error'), { code: 'OUT_OF_SCOPE' }, "a district operator speaks in the district's stations only");
  talk.send({ type: 'start', area: { stations: [a.agent.identity().station] } });
  await talk.next('started');
  talk.ws.send(Buffer.alloc(2000));
  t.match(await talk.next('error'), { code: 'BAD_FRAME' }, 'over the 1,275-byte Opus packet limit');
  talk.send({ type: 'start', area: { stations: [a.agent.identity().station] } });
  t.match(await talk.next('error'), { code: 'ALREADY_STARTED' });
  talk.send({ type: 'stop' });
  t.match(await talk.next('ended'), { reason: 'stopped' });
  talk.ws.close();

  const forbidden = async (headers: Record<string, string>, token: string) => {
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/api/v1/voice/ws`, {
      headers: { authorization: `Bearer ${token}`, ...headers },
    });
    const [, res] = (await once(ws, 'unexpected-response')) as [unknown, { statusCode: number }];
    return res.statusCode;
  };
  t.equal(await forbidden({ origin: 'https://evil.example' }, operator), 403, 'a page of another origin cannot speak through the session');
  t.equal(await forbidden({}, await signedInAs(server, 'voice.auditor', 'auditor')), 403, 'an auditor may not speak');
  t.equal(await forbidden({}, 'not-a-token'), 401);
});
