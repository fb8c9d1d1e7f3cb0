// live_mouth_to_speaker_ms_p95: a speaker on the server's WebSocket (as the console's page is) sends 20 ms Opus
// frames of silence with a click every 500 ms; a real agent plays the stream through ffmpeg into a FIFO (its zone's
// file sink) and the click is found in what ffmpeg wrote. Mouth = the click's capture instant (its frame is sent
// once complete, 20 ms after its first sample); speaker = the moment its samples come out of the player.
// live_frames_lost_pct: a second agent drops 5 % of the frames it receives (seeded), as a lossy link would; the
// share of the stream it could not play (concealed holes) from its own report. Loopback, real server, broker,
// libopus, ffmpeg. Then the relay figures (bench/relay.ts): relay_switch_ms and relay_end_error_ms_p99.
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { openOpusCodec, pcmBytes } from '#protocol';
import type { AgentEvent } from '../edge-agent/agent.ts';
import { systemClock } from '../edge-agent/clock.ts';
import { makeAgent } from '../test/helpers/agent.ts';
import { startTestServer } from '../test/helpers/server.ts';
import { runRelay } from './relay.ts';
import { figure } from './report.ts';

const SECONDS = 30;
const CLICK_EVERY = 25; // frames: one click each 500 ms
const LOSS = 0.05;

export async function run(): Promise<void> {
  const server = await startTestServer();
  const dir = mkdtempSync(join(tmpdir(), 'lp-bench-live-'));
  const fifo = join(dir, 'speaker.pcm');
  execFileSync('mkfifo', [fifo]);
  const [relayStation, ...stations] = (await server.db.station.findMany({ orderBy: { code: 'asc' }, take: 3 })).map((s) => s.code);
  const agents = await Promise.all(
    stations.map(async (station, i) => {
      const gw = await makeAgent({ station, server, clock: systemClock, sinks: i === 0 ? { z1: { kind: 'file', path: fifo } } : {} });
      await gw.agent.start();
      await gw.waitFor('subscribed');
      return gw;
    }),
  );

  // The lossy gateway: 5 % of the frames it receives never reach its live room (seeded, reproducible).
  const lossy = agents[1]?.agent.inspect().rooms.live;
  let seed = 12345;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  let dropped = 0;
  let received = 0;
  if (lossy) {
    const onFrame = lossy.onFrame.bind(lossy);
    lossy.onFrame = (payload, at) => {
      received += 1;
      if (random() < LOSS) dropped += 1;
      else onFrame(payload, at);
    };
  }

  // What the player writes: the first loud sample after a quiet spell is a click heard.
  const heard: number[] = [];
  let quiet = 0;
  createReadStream(fifo).on('data', (data) => {
    const chunk = data as Buffer;
    const now = performance.now();
    for (let i = 0; i + 1 < chunk.length; i += 2) {
      const v = Math.abs(chunk.readInt16LE(i));
      if (v > 6000 && quiet > 4800) heard.push(now);
      quiet = v > 6000 ? 0 : quiet + 1;
    }
  });

  const ws = new WebSocket(`${server.url.replace('http', 'ws')}/api/v1/voice/ws`, { headers: server.auth });
  const inbox: { type: string; [k: string]: unknown }[] = [];
  ws.on('message', (d) => inbox.push(JSON.parse(d.toString())));
  await once(ws, 'open');
  ws.send(JSON.stringify({ type: 'start', area: { stations }, codec: 'opus' }));
  while (!inbox.some((m) => m.type === 'started')) await once(ws, 'message');
  const airing = inbox.find((m) => m.type === 'started')?.airing as string;
  const codec = await openOpusCodec();
  const silence = Buffer.alloc(pcmBytes(20));
  const clickPcm = Buffer.alloc(pcmBytes(20));
  for (let i = 0; i < 48; i++) clickPcm.writeInt16LE(i % 2 ? -30000 : 30000, i * 2);
  const frames = (SECONDS * 1000) / 20;
  const mouths: number[] = [];
  const t0 = performance.now();
  for (let f = 0; f < frames; f++) {
    const due = t0 + f * 20;
    while (performance.now() < due) await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now() - 1)));
    const click = f % CLICK_EVERY === 0 && f > 0;
    // Encoded live, as the browser does: the click frame's first sample was captured 20 ms before it is sent.
    const packet = codec.encode(click ? clickPcm : silence);
    if (click) mouths.push(performance.now() - 20);
    ws.send(packet);
  }
  ws.send(JSON.stringify({ type: 'stop' }));
  const finished = (i: number) =>
    agents[i]?.waitFor('finished', (e) => e.occurrenceId.startsWith(`${airing}@`)) as Promise<Extract<AgentEvent, { type: 'finished' }>>;
  const [, lossyEnd] = await Promise.all([finished(0), finished(1)]);

  // Each click heard is matched to the latest click sent before it.
  const latencies: number[] = [];
  for (const h of heard) {
    const mouth = mouths.filter((m) => m <= h).at(-1);
    if (mouth !== undefined && h - mouth < 1000) latencies.push(h - mouth);
  }
  latencies.sort((a, b) => a - b);
  const p = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
  figure('live', 'live_mouth_to_speaker_ms_p95', p(0.95), 'ms', {
    p50_ms: Math.round(p(0.5)),
    max_ms: Math.round(latencies.at(-1) ?? Number.NaN),
    clicks_sent: mouths.length,
    clicks_heard: latencies.length,
    goal_ms: 100,
    bar_ms: 150,
  });
  const live = lossyEnd.report.live;
  const total = (live?.framesPlayed ?? 0) + (live?.framesConcealed ?? 0) + (live?.framesSkipped ?? 0);
  figure('live', 'live_frames_lost_pct', total ? (100 * (live?.framesConcealed ?? 0)) / total : Number.NaN, '%', {
    injected_pct: Math.round((1000 * dropped) / Math.max(1, received)) / 10,
    frames: total,
    played_ms: lossyEnd.report.playedMs,
  });
  ws.close();
  for (const { agent } of agents) await agent.stop();
  await runRelay(server, relayStation as string);
  await server.stop();
}
