// ingest_x_realtime: seconds of audio processed per second of wall time for a 10-minute speech MP3
// (upload on loopback, probe, analysis pass, encode pass, re-measure, store: one job).
// tts_s_per_1000_chars: wall seconds per 1000 characters of Vietnamese text, from the TTS request
// to the stored item (espeak-ng, then the same pipeline).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, upload } from '../test/helpers/server.ts';
import { makeSpeechBulletin } from './audio.ts';
import { figure } from './report.ts';

const SENTENCE = 'Ủy ban nhân dân phường thông báo lịch tiêm chủng mở rộng và hướng dẫn bà con phòng chống bão lũ. ';

export async function run(): Promise<void> {
  const server = await startTestServer();
  const dir = mkdtempSync(join(tmpdir(), 'lp-bench-content-'));
  try {
    const seconds = 600;
    const mp3 = makeSpeechBulletin(join(dir, 'ten-minutes.mp3'), seconds);
    const t0 = performance.now();
    const up = await upload(server, mp3, { title: 'bench 10 min' });
    const elapsed = (performance.now() - t0) / 1000;
    if (up.status !== 201) throw new Error(`ingest failed: ${JSON.stringify(up.body)}`);
    // The same file on a server that encodes in one piece (LP_ENCODE_PARTS=1), for the ratio.
    const single = await startTestServer({ env: { LP_ENCODE_PARTS: '1' } });
    let one: number;
    try {
      const t2 = performance.now();
      const r = await upload(single, mp3, { title: 'bench 10 min, one piece' });
      one = (performance.now() - t2) / 1000;
      if (r.status !== 201) throw new Error(`ingest failed: ${JSON.stringify(r.body)}`);
    } finally {
      await single.stop();
    }
    figure('content', 'ingest_x_realtime', seconds / elapsed, 'x', {
      audio_s: seconds,
      wall_s: Math.round(elapsed * 100) / 100,
      one_piece_x_realtime: Math.round((seconds / one) * 100) / 100,
    });

    const text = SENTENCE.repeat(Math.ceil(2000 / SENTENCE.length)).slice(0, 2000);
    const t1 = performance.now();
    const res = await fetch(`${server.url}/api/v1/media/tts`, {
      method: 'POST',
      headers: { ...server.auth, 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'bench tts', text }),
    });
    const tts = (performance.now() - t1) / 1000;
    if (res.status !== 201) throw new Error(`tts failed: ${await res.text()}`);
    const item = (await res.json()) as { durationMs: number };
    figure('content', 'tts_s_per_1000_chars', tts / (text.length / 1000), 's', {
      chars: text.length,
      speech_s: Math.round(item.durationMs / 1000),
    });
  } finally {
    await server.stop();
  }
}
