// Long items are cut at a silence and their parts encoded at once, then joined: against real ffmpeg and
// the real server. The stored item lasts what the source does, meets the loudness target, and the join
// (inside the silence) is as silent as the source was there; audio without a silence near the middle is
// encoded in one piece.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { Command } from '../../../server/media/ffmpeg.ts';
import { analysisCommand, parseAnalysis } from '../../../server/media/loudness.ts';
import { spawnRunner } from '../../../server/media/process-runner.ts';
import { makeSignal } from '../../helpers/audio.ts';
import { startTestServer, upload } from '../../helpers/server.ts';

const commands: Command[] = [];
const server = await startTestServer({
  env: { LP_ENCODE_PARTS: '2' },
  run: (command, opts) => {
    commands.push(command);
    return spawnRunner(command, opts);
  },
});
t.teardown(() => server.stop());

/** The stored item's bytes, downloaded as a gateway would. */
async function download(sha256: string): Promise<string> {
  const file = join(server.dataDir, `${sha256}.ogg`);
  writeFileSync(file, Buffer.from(await (await fetch(`${server.url}/blobs/${sha256}`)).arrayBuffer()));
  return file;
}

/** Loudness, true peak and the silences of 0.5 s or more (in seconds) of a file, from the same analysis pass the server runs. */
async function stats(file: string) {
  const r = await spawnRunner(analysisCommand('ffmpeg', file));
  const a = parseAnalysis(r.stderr, r.stdout);
  return {
    lufs: a.integratedLufs,
    peak: a.truePeakDbtp,
    silences: a.silences.filter((s) => s.endMs - s.startMs >= 500).map((s) => [s.startMs / 1000, s.endMs / 1000]),
  };
}

const joins = () => commands.filter((c) => c.args.includes('concat')).length;

t.test('two minutes of tone with a 2 s pause in the middle: encoded in two parts, joined in the pause', async (t) => {
  // 0.3 amplitude 440 Hz, silent from 59 s to 61 s.
  const src = makeSignal(join(server.dataDir, 'paused.wav'), 'if(between(t\\,59\\,61)\\,0\\,0.3*sin(2*PI*440*t))', 120);
  const before = joins();
  const encodes = commands.length;
  const r = await upload(server, src, { title: 'paused' });
  t.equal(r.status, 201, JSON.stringify(r.body.error ?? ''));
  t.equal(joins() - before, 1, 'the parts were joined once');
  t.equal(commands.slice(encodes).filter((c) => c.args.includes('libopus')).length, 2, 'two encoders ran');
  const m = await stats(await download(r.body.sha256 as string));
  // The second encoder's priming (6.5 ms) stays in a stream copy, and the last frame's padding: within 30 ms.
  t.ok(Math.abs((r.body.durationMs as number) - 120_000) <= 30, `${r.body.durationMs} ms stored for 120 s`);
  t.ok(Math.abs(m.lufs - -16) <= 0.5, `${m.lufs} LUFS`);
  t.ok(m.peak <= -1 + 0.3, `${m.peak} dBTP`);
  t.equal(m.silences.length, 1, `one silence, the source's: ${JSON.stringify(m.silences)}`);
  const [start, end] = m.silences[0];
  t.ok(
    Math.abs(start - 59) < 0.05 && Math.abs(end - 61) < 0.05,
    `silent from ${start} to ${end} s: the join adds no sound and moves nothing`,
  );
});

t.test('without a pause near the middle it is encoded in one piece', async (t) => {
  const src = makeSignal(join(server.dataDir, 'steady.wav'), '0.3*sin(2*PI*440*t)', 90);
  const before = joins();
  const r = await upload(server, src, { title: 'steady' });
  t.equal(r.status, 201);
  t.equal(joins(), before, 'nothing to join');
  t.ok(Math.abs((r.body.durationMs as number) - 90_000) <= 30);
});
