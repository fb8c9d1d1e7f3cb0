// relay_switch_ms: a real agent relays a real HTTP MP3 upstream into a FIFO (its zone's file sink); the primary
// station is killed mid-slot and the time until sound comes out again (from the secondary) is measured, in what
// the player wrote. relay_end_error_ms_p99: |end of the agent's playback − end of the slot| over the same relays,
// the upstream still streaming at the end. Each relay is planned by a signed manifest, as the server sends them.
import { execFileSync } from 'node:child_process';
import { createReadStream, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync } from 'mqtt';
import { type ManifestEntry, manifestTopic } from '#protocol';
import { systemClock } from '../edge-agent/clock.ts';
import { makeAgent, mediaRef, signedManifest } from '../test/helpers/agent.ts';
import { makeTone } from '../test/helpers/audio.ts';
import { type TestServer, uploadApproved } from '../test/helpers/server.ts';
import { startUpstream } from '../test/helpers/upstream.ts';
import { figure } from './report.ts';

const RELAYS = 10;
const SLOT_MS = 8000;
const KILL_AFTER_MS = 3500;

export async function runRelay(server: TestServer, station: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lp-bench-relay-'));
  const fifo = join(dir, 'out.pcm');
  execFileSync('mkfifo', [fifo]);
  const { body: fallback } = await uploadApproved(server, makeTone(join(dir, 'fb.wav'), { seconds: 3, frequency: 330 }));
  const { agent, waitFor } = await makeAgent({ station, server, clock: systemClock, sinks: { z1: { kind: 'file', path: fifo } } });
  await agent.start();
  await waitFor('subscribed');
  const until = async (pred: () => boolean) => {
    while (!pred()) await new Promise((r) => setTimeout(r, 10));
  };

  // The player's output: each time it opens the FIFO, read it in 10 ms windows; a loud window with the zero
  // crossings of 880 Hz (17.6 per window; 440 Hz gives 8.8) is the secondary heard.
  const secondaryHeard: number[] = [];
  let window: number[] = [];
  const read = () =>
    createReadStream(fifo)
      .on('data', (data) => {
        const chunk = data as Buffer;
        const now = performance.now() + performance.timeOrigin;
        for (let i = 0; i + 1 < chunk.length; i += 2) {
          window.push(chunk.readInt16LE(i));
          if (window.length < 480) continue;
          let crossings = 0;
          let peak = 0;
          for (let j = 1; j < window.length; j++) {
            if ((window[j - 1] as number) < 0 !== (window[j] as number) < 0) crossings += 1;
            peak = Math.max(peak, Math.abs(window[j] as number));
          }
          if (peak > 3000 && crossings >= 14) secondaryHeard.push(now);
          window = [];
        }
      })
      .on('end', read);
  read();

  const publisher = await connectAsync(server.mqttUrl, { protocolVersion: 4, ...server.brokerLogin });
  const { device } = agent.identity();
  const switches: number[] = [];
  const endErrors: number[] = [];
  for (let k = 0; k < RELAYS; k++) {
    const primary = await startUpstream({ frequency: 440 });
    const secondary = await startUpstream({ frequency: 880 });
    const startsAt = Date.now() + 2000;
    const id = `bench-relay-${k}`;
    const relay = { urls: [primary.url, secondary.url], slotMs: SLOT_MS, deadAirMs: 3000, recheckMs: 600_000 };
    const entry: ManifestEntry = {
      occurrenceId: id,
      startsAt: new Date(startsAt).toISOString(),
      priority: 'normal',
      media: mediaRef(fallback),
      relay,
    };
    const payload = signedManifest(server, { station, version: 2_000_000 + k, entries: [entry], now: Date.now() });
    await publisher.publishAsync(manifestTopic(device), payload, { qos: 1, retain: true });
    await until(() => Date.now() >= startsAt + KILL_AFTER_MS);
    const killedAt = Date.now();
    await primary.kill();
    await until(() => secondaryHeard.some((r) => r > killedAt) || Date.now() > killedAt + 4000);
    const back = secondaryHeard.find((r) => r > killedAt);
    if (back !== undefined) switches.push(back - killedAt);
    const done = await waitFor('finished', (e) => e.occurrenceId === id);
    if (done.report.endedAt) endErrors.push(Math.abs(Date.parse(done.report.endedAt) - (startsAt + SLOT_MS)));
    await secondary.kill();
  }
  const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
  const q = (xs: number[], p: number) => sorted(xs)[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? Number.NaN;
  figure('live', 'relay_switch_ms', q(switches, 0.5), 'ms', {
    p95_ms: Math.round(q(switches, 0.95)),
    relays: RELAYS,
    switched: switches.length,
  });
  figure('live', 'relay_end_error_ms_p99', q(endErrors, 0.99), 'ms', {
    median_ms: Math.round(q(endErrors, 0.5)),
    relays: endErrors.length,
  });
  await publisher.endAsync();
  await agent.stop();
}
