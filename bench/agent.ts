// idle_rss_mb: resident memory of the real agent program as gateways run it (`npm run agent:build`'s
// bundle under plain node; idle_rss_mb_tsx: the same entry through the tsx loader) enrolled, subscribed,
// holding a plan, and idle. start_error_ms_p99: |actual − scheduled| start
// over 200 one-second occurrences 2 s apart (no overlap, so no queueing is counted) by an agent on the real clock (real server, broker, ffmpeg
// null sink); "actual" is the first audio sample the player emitted (the start of its first measured second).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { AgentEvent } from '../edge-agent/agent.ts';
import { buildAgent, GATEWAY_NODE_FLAGS } from '../edge-agent/build.ts';
import { systemClock } from '../edge-agent/clock.ts';
import { createGatewayAgent } from '../edge-agent/wire.ts';
import { makeTone } from '../test/helpers/audio.ts';
import { rssMb } from '../test/helpers/proc.ts';
import {
  enrollTokenFile,
  provisionDevice,
  scheduleItem,
  startTestServer,
  type TestServer,
  uploadApproved,
} from '../test/helpers/server.ts';
import { figure } from './report.ts';

const OCCURRENCES = 200;
const SPACING_MS = 2000;

/** Starts the agent program with `args`, enrolled for `station`, and resolves once it holds a plan with its audio. */
async function idleAgent(server: TestServer, station: string, args: string[], schedule: () => Promise<unknown>): Promise<ChildProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), 'lp-bench-idle-'));
  const child = spawn(
    process.execPath,
    [
      ...args,
      '--enroll-token-file',
      await enrollTokenFile(server, station, dataDir),
      '--server',
      server.url,
      '--mqtt',
      server.mqttUrl,
      '--data-dir',
      dataDir,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const until = (text: string) =>
    new Promise<void>((resolve) => {
      const on = (line: string) => {
        if (line.includes(text)) {
          lines.off('line', on);
          resolve();
        }
      };
      lines.on('line', on);
    });
  await until('"msg":"event subscribed"');
  const cached = until('"msg":"event cached"');
  await schedule();
  await cached;
  return child;
}

export async function run(): Promise<void> {
  const server = await startTestServer();
  let child: ChildProcess | undefined;
  try {
    const uploaded = await uploadApproved(server, makeTone(join(server.dataDir, 'bench-tick.wav'), { seconds: 1 }));
    if (uploaded.status !== 201) throw new Error(`upload answered ${uploaded.status}: ${JSON.stringify(uploaded.body)}`);
    const media = uploaded.body;
    const schedule = (station: string, startsAt: number) => scheduleItem(server, media.id, station, startsAt);

    // Idle memory of the agent program: as built for gateways (one bundle, plain node), and through tsx.
    const bundle = await buildAgent(join(mkdtempSync(join(tmpdir(), 'lp-bench-bundle-')), 'agent.mjs'));
    const variants = [
      // The flags deploy/systemd/loaphuong-agent@.service runs it with.
      { loader: 'bundle', station: 'HN-00001', args: [...GATEWAY_NODE_FLAGS, bundle] },
      { loader: 'tsx', station: 'HN-00007', args: ['--import', 'tsx', 'edge-agent/main.ts'] },
    ];
    for (const { loader, station, args } of variants) {
      child = await idleAgent(server, station, args, () => schedule(station, Date.now() + 3600_000));
      // One sample a second for 15 s. Idle is the maximum of the last five: V8 returns the startup garbage
      // (about 3 MB) at its memory reducer's first pass, some 8 s after the last busy moment. The samples
      // before it are printed too.
      const samples: number[] = [];
      for (let i = 0; i < 15; i++) {
        await new Promise((r) => setTimeout(r, 1000));
        samples.push(rssMb(child.pid as number));
      }
      figure('agent', loader === 'bundle' ? 'idle_rss_mb' : 'idle_rss_mb_tsx', Math.max(...samples.slice(-5)), 'MB', {
        loader,
        samples: samples.map((s) => Math.round(s * 10) / 10),
        flags: args.slice(0, -1).filter((a) => a.startsWith('--')),
      });
      child.kill('SIGTERM');
    }

    // LP_BENCH_AGENT=idle: the memory figures only (start accuracy takes 200 occurrences of real time).
    if (process.env.LP_BENCH_AGENT === 'idle') return;
    // Start accuracy.
    const station = 'HN-00004';
    const agent = createGatewayAgent({
      enrollToken: await provisionDevice(server, station),
      dataDir: mkdtempSync(join(tmpdir(), 'lp-bench-agent-')),
      serverUrl: server.url,
      mqttUrl: server.mqttUrl,
      clock: systemClock,
      zones: { z1: { kind: 'null' } },
      // The shipped fade (300 ms in): the first sample still comes out at the start, faded in.
      log: { info() {}, warn: (msg: string, obj?: object) => console.error('agent:', msg, obj ?? '') },
    });
    const errors: number[] = [];
    const spawnErrors: number[] = [];
    let finished = 0;
    let allDone: () => void = () => {};
    const done = new Promise<void>((resolve) => {
      allDone = resolve;
    });
    const scheduled = new Map<string, number>();
    agent.onEvent((e: AgentEvent) => {
      if (e.type === 'on-air') errors.push(Math.abs(e.at - (scheduled.get(e.occurrenceId) ?? Number.NaN)));
      if (e.type === 'started') spawnErrors.push(Math.abs(e.at - (scheduled.get(e.occurrenceId) ?? Number.NaN)));
      if (e.type === 'finished' && ++finished === OCCURRENCES) allDone();
    });
    agent.onEvent((e: AgentEvent) => {
      if (e.type === 'armed') scheduled.set(e.occurrenceId, e.at);
    });
    await agent.start();
    const first = Date.now() + 20_000;
    for (let i = 0; i < OCCURRENCES; i++) await schedule(station, first + i * SPACING_MS);
    await done;
    await agent.stop();
    const sorted = [...errors].sort((a, b) => a - b);
    const p = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
    const spawned = [...spawnErrors].sort((a, b) => a - b);
    figure('agent', 'start_error_ms_p99', p(0.99), 'ms', {
      n: sorted.length,
      p50: p(0.5),
      max: sorted.at(-1),
      measuredAt: 'first audio sample (first measured second minus its length), fade 300 ms',
      playerSpawnErrorP99: spawned[Math.min(spawned.length - 1, Math.ceil(0.99 * spawned.length) - 1)],
    });
  } finally {
    child?.kill('SIGKILL');
    await server.stop();
  }
}
