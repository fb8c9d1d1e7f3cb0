// upload_to_airing_ms: from the start of the upload of a 60 s MP3 until the agent reports that
// playback has started, the item scheduled to start as soon as the upload returns. Real clock,
// real server, broker, ffmpeg and agent (null sink), all on this machine.
import { EventEmitter, once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentEvent } from '../edge-agent/agent.ts';
import { systemClock } from '../edge-agent/clock.ts';
import { createGatewayAgent } from '../edge-agent/wire.ts';
import { approve, approverAuth, provisionDevice, startTestServer, upload } from '../test/helpers/server.ts';
import { makeSpeechBulletin } from './audio.ts';
import { figure, median } from './report.ts';

const RUNS = 3;

export async function run(): Promise<void> {
  const server = await startTestServer();
  const dir = mkdtempSync(join(tmpdir(), 'lp-bench-e2e-'));
  // The approver logs in once; submitting and approving each item is part of the measured path.
  const approver = await approverAuth(server);
  const totals: number[] = [];
  const uploads: number[] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      const station = `HN-${String(1 + i * 3).padStart(5, '0')}`;
      const agentDir = mkdtempSync(join(tmpdir(), 'lp-bench-agent-'));
      const agent = createGatewayAgent({
        enrollToken: await provisionDevice(server, station),
        dataDir: agentDir,
        serverUrl: server.url,
        mqttUrl: server.mqttUrl,
        clock: systemClock,
        zones: { z1: { kind: 'null' } },
        log: { info() {}, warn: (msg: string, obj?: object) => console.error('agent:', msg, obj ?? '') },
      });
      const events = new EventEmitter();
      agent.onEvent((e: AgentEvent) => events.emit(e.type, e));
      await agent.start();

      // A distinct file per run so the upload is processed, not deduplicated.
      const file = makeSpeechBulletin(join(dir, `bulletin-${i}.mp3`), 60, i);
      const t0 = performance.now();
      const up = await upload(server, file, { title: `bench ${i}` });
      const t1 = performance.now();
      if (up.status !== 201) throw new Error(`upload failed: ${JSON.stringify(up.body)}`);
      await approve(server, up.body.id, approver);
      // Either it starts, or it finishes without starting: then the run is a failure, not a hang.
      const started = Promise.race([
        once(events, 'started'),
        once(events, 'finished').then(([e]) => {
          throw new Error(`playback did not start: ${JSON.stringify(e)}`);
        }),
      ]);
      const res = await fetch(`${server.url}/api/v1/schedules`, {
        method: 'POST',
        headers: { ...server.auth, 'content-type': 'application/json' },
        body: JSON.stringify({ mediaId: up.body.id, stations: [station], startsAt: new Date().toISOString() }),
      });
      if (res.status !== 201) throw new Error(`schedule failed: ${await res.text()}`);
      await started;
      totals.push(performance.now() - t0);
      uploads.push(t1 - t0);
      await agent.stop();
    }
  } finally {
    await server.stop();
  }
  figure('e2e', 'upload_to_airing_ms', median(totals), 'ms', { runs: RUNS, samples: totals.map(Math.round) });
  figure('e2e', 'upload_ingest_ms', median(uploads), 'ms', { runs: RUNS, note: '60 s MP3: receive, ffprobe, Opus encode, store' });
}
