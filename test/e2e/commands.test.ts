// Remote commands end to end: HTTP → signed command over MQTT → agent verifies and acts →
// signed reply → HTTP answer. And the agent's error replies for everything it refuses.
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { connectAsync } from 'mqtt';
import t from 'tap';
import { commandTopic, LIMITS, seal } from '#protocol';
import { mediaRef, onlineAgent } from '../helpers/agent.ts';
import { makeTone } from '../helpers/audio.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { matchExact } from '../helpers/match.ts';
import { sendCommand, startTestServer, uploadApproved } from '../helpers/server.ts';

const clock = new FakeClock(Date.now());
const server = await startTestServer({ now: clock.date });
t.teardown(() => server.stop());
const station = 'HN-00019';
const gw = await onlineAgent(t, { station, server, clock });

const command = (body: unknown, code = station) => sendCommand(server, code, body);

t.test('volume is acknowledged and kept across restarts of the agent state', async (t) => {
  const r = await command({ action: 'volume', level: 40 });
  t.equal(r.status, 200);
  t.match(r.body, { ok: true, action: 'volume', result: { volume: { '*': 40 } } });
  matchExact(t, r.body.txn, /^[0-9a-f-]{36}$/, 'the reply echoes the transaction id');
});

t.test('self-test plays a tone through the player and reports what it measured, at the set volume', async (t) => {
  const r = await command({ action: 'self-test' });
  t.equal(r.body.ok, true);
  const result = r.body.result as { playedMs: number; rmsDbfs: number; peakDbfs: number };
  t.ok(Math.abs(result.playedMs - 2000) < 60, `played ${result.playedMs} ms`);
  // A full-scale-0.125 sine (ffmpeg's sine source) is -21 dBFS RMS; at volume 40 it is 8 dB lower.
  t.ok(result.rmsDbfs < -25 && result.rmsDbfs > -33, `rms ${result.rmsDbfs} dBFS`);
});

t.test('stop with nothing playing is acknowledged; sync-now re-reads the manifest', async (t) => {
  t.match((await command({ action: 'stop' })).body, { ok: true, result: { stopped: null } });
  t.match((await command({ action: 'sync-now' })).body, { ok: true });
});

t.test('play-now fetches the audio and airs it at once, with proof', async (t) => {
  const { body: media } = await uploadApproved(server, makeTone(join(server.dataDir, 'now.wav'), { seconds: 1, frequency: 500 }));
  const r = await command({
    action: 'play-now',
    occurrenceId: 'adhoc-1',
    priority: 'priority',
    media: mediaRef(media),
  });
  t.match(r.body, { ok: true, result: { startedAt: clock.date().toISOString() } });
  const done = await gw.waitFor('finished', (e) => e.occurrenceId === 'adhoc-1');
  t.equal(done.report.kind, 'playback.completed');
});

t.test('actions this agent version does not implement get NOT_SUPPORTED, not silence', async (t) => {
  // live.stop of a stream this gateway does not play: nothing to stop, said so.
  t.match(await command({ action: 'live.stop', streamId: 'ab'.repeat(16) }), {
    status: 200,
    body: { ok: true, result: { stopped: null } },
  });
  // A refusal is no success: 422 with the gateway's own code and its signed reply.
  const refused = (code: string, action?: string) => ({
    status: 422,
    body: {
      error: {
        code: 'DEVICE_REFUSED',
        message: new RegExp(`refused the command: ${code}`),
        details: { reply: { ok: false, ...(action ? { action } : {}), error: { code } } },
      },
    },
  });
  t.match(await command({ action: 'reboot' }), refused('NOT_SUPPORTED', 'reboot'));
  t.match(await command({ action: 'stop', zone: 'nowhere' }), refused('UNKNOWN_ZONE'));
});

t.test('a volume command turns down what is playing at once, and the proof measures it', async (t) => {
  await command({ action: 'volume', level: 100 });
  const { body: media } = await uploadApproved(server, makeTone(join(server.dataDir, 'loud.wav'), { seconds: 3, amplitude: 0.5 }));
  await command({ action: 'play-now', occurrenceId: 'adhoc-loud', priority: 'normal', media: mediaRef(media) });
  await gw.waitFor('started', (e) => e.occurrenceId === 'adhoc-loud');
  t.match((await command({ action: 'volume', level: 10 })).body, { ok: true, result: { volume: { '*': 10 } } });
  const done = await gw.waitFor('finished', (e) => e.occurrenceId === 'adhoc-loud');
  t.equal(done.report.kind, 'playback.completed');
  // At full level the tone (stored at -16 LUFS) measures about -16 dBFS RMS; 20 dB down for most of it.
  t.ok((done.report.level?.rmsDbfs ?? 0) < (media.loudnessAfterLufs as number) - 6, `measured ${done.report.level?.rmsDbfs} dBFS`);
});

t.test('emergency.start cuts what plays (PREEMPTED), repeats until cancelled, and the cancel is reported', async (t) => {
  const { body: talk } = await uploadApproved(server, makeTone(join(server.dataDir, 'talk.wav'), { seconds: 20, frequency: 300 }));
  const { body: siren } = await uploadApproved(server, makeTone(join(server.dataDir, 'siren.wav'), { seconds: 1, frequency: 1400 }));
  await command({ action: 'play-now', occurrenceId: 'adhoc-talk', priority: 'priority', media: mediaRef(talk) });
  await gw.waitFor('started', (e) => e.occurrenceId === 'adhoc-talk');
  const repeatUntil = new Date(clock.now() + 600_000).toISOString();
  const started = await command({ action: 'emergency.start', occurrenceId: 'em-1', media: mediaRef(siren), repeatUntil });
  t.match(started.body, { ok: true, result: { repeatUntil } });
  const cut = await gw.waitFor('finished', (e) => e.occurrenceId === 'adhoc-talk');
  t.match(cut.report, { kind: 'playback.completed', reason: 'PREEMPTED' });
  // The clock stands still, so repeatUntil stays ahead: it airs again and again.
  const airings = () => gw.events.filter((e) => e.type === 'finished' && e.occurrenceId === 'em-1');
  await gw.waitFor('started', (e) => e.occurrenceId === 'em-1' && airings().length >= 1);
  const first = airings()[0] as { report: { kind: string; reason?: string; playedMs?: number } };
  t.equal(first.report.kind, 'playback.completed');
  t.notOk(first.report.reason, 'the first airing ran in full');
  t.ok((first.report.playedMs ?? 0) > 900);
  const cancel = await command({ action: 'emergency.cancel', occurrenceId: 'em-1' });
  t.match(cancel.body, { ok: true, result: { cancelled: 'em-1' } });
  const last = airings().at(-1) as { report: { reason?: string } };
  t.equal(last.report.reason, 'CANCELLED', 'the airing the cancel cut is reported CANCELLED');
  t.match((await command({ action: 'emergency.cancel', occurrenceId: 'em-1' })).body, { ok: true, result: { cancelled: null } });
  const past = await command({
    action: 'emergency.start',
    occurrenceId: 'em-2',
    media: mediaRef(siren),
    repeatUntil: new Date(clock.now() - 1000).toISOString(),
  });
  t.match(past, {
    status: 422,
    body: { error: { code: 'DEVICE_REFUSED', details: { reply: { ok: false, error: { code: 'EXPIRED' } } } } },
  });
});

t.test('the server refuses malformed commands and unknown stations before sending anything', async (t) => {
  t.match(await command({ action: 'volume', level: 400 }), { status: 400, body: { error: { code: 'INVALID_COMMAND' } } });
  t.match(await command({ action: 'dance' }), { status: 400, body: { error: { code: 'INVALID_COMMAND' } } });
  t.match(await command({ action: 'stop' }, 'HN-99999'), { status: 404, body: { error: { code: 'UNKNOWN_STATION' } } });
  t.match(await command({ action: 'stop' }, 'HN-00022'), { status: 409, body: { error: { code: 'DEVICE_NOT_ENROLLED' } } });
});

t.test('forged, replayed and oversized commands are refused with an error reply and not acted on', async (t) => {
  // Past the broker's access control (the server's own login: a compromised broker path); only signatures remain.
  const attacker = await connectAsync(server.mqttUrl, { protocolVersion: 4, ...server.brokerLogin });
  t.teardown(() => attacker.endAsync());
  const rogue = generateKeyPairSync('ed25519');
  const forged = seal(
    'command',
    { action: 'volume', txn: 'forged-1', level: 100 },
    { kid: server.key.signer.kid, privateKey: rogue.privateKey, nextSeq: () => Number.MAX_SAFE_INTEGER },
    { now: clock.date(), ttlMs: 60_000 },
  );
  await attacker.publishAsync(commandTopic(station), JSON.stringify(forged), { qos: 1 });
  const forgedReply = await gw.waitFor('replied', (e) => e.reply.txn === 'forged-1');
  t.match(forgedReply.reply, { ok: false, error: { code: 'BAD_SIGNATURE' } });

  const genuine = seal('command', { action: 'volume', txn: 'genuine-1', level: 70 }, server.key.signer, {
    now: clock.date(),
    ttlMs: 60_000,
  });
  await attacker.publishAsync(commandTopic(station), JSON.stringify(genuine), { qos: 1 });
  t.match((await gw.waitFor('replied', (e) => e.reply.txn === 'genuine-1' && e.reply.ok)).reply, { ok: true });
  await attacker.publishAsync(commandTopic(station), JSON.stringify(genuine), { qos: 1 });
  const replayed = await gw.waitFor('replied', (e) => e.reply.txn === 'genuine-1' && !e.reply.ok);
  t.match(replayed.reply, { ok: false, error: { code: 'REPLAYED' } });

  const big = Buffer.alloc(LIMITS.maxPayloadBytes + 10, 0x20);
  await attacker.publishAsync(commandTopic(station), big, { qos: 1 });
  const tooLarge = await gw.waitFor('replied', (e) => !e.reply.ok && e.reply.error.code === 'TOO_LARGE');
  t.same([tooLarge.reply.txn, tooLarge.reply.action], [null, null], 'no txn is read from an oversized payload');

  // [P-9.2] A newer server's action, correctly signed: UNKNOWN_ACTION, not INVALID_BODY; a known action with a bad field stays INVALID_BODY.
  const future = seal('command', { action: 'dance', txn: 'future-1' } as never, server.key.signer, { now: clock.date(), ttlMs: 60_000 });
  await attacker.publishAsync(commandTopic(station), JSON.stringify(future), { qos: 1 });
  t.match((await gw.waitFor('replied', (e) => e.reply.txn === 'future-1')).reply, {
    ok: false,
    action: 'dance',
    error: { code: 'UNKNOWN_ACTION' },
  });
  const loud = seal('command', { action: 'volume', txn: 'loud-1', level: 400 }, server.key.signer, { now: clock.date(), ttlMs: 60_000 });
  await attacker.publishAsync(commandTopic(station), JSON.stringify(loud), { qos: 1 });
  t.match((await gw.waitFor('replied', (e) => e.reply.txn === 'loud-1')).reply, { ok: false, error: { code: 'INVALID_BODY' } });

  const volume = await command({ action: 'volume', level: 55 });
  t.match(volume.body, { ok: true, result: { volume: { '*': 55 } } }, 'the forged volume of 100 never applied');
});
