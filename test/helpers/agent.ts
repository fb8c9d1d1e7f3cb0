import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'mqtt';
import { Agent, type AgentEvent } from '../../edge-agent/agent.ts';
import { AudioCache } from '../../edge-agent/cache.ts';
import { createFfmpegPlayer } from '../../edge-agent/player.ts';
import { StateStore } from '../../edge-agent/store.ts';
import type { FakeClock } from './fake-clock.ts';

const quiet = { info() {}, warn() {} };

/** A real agent (real MQTT, HTTP, ffmpeg null sink) on a fake clock. */
export function makeAgent(opts: { station: string; serverUrl: string; mqttUrl: string; clock: FakeClock; dataDir?: string }) {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'loaphuong-agent-'));
  const agent = new Agent({
    station: opts.station,
    serverUrl: opts.serverUrl,
    clock: opts.clock,
    fetch,
    store: new StateStore(dataDir),
    cache: new AudioCache(join(dataDir, 'cache'), { fetch }),
    player: createFfmpegPlayer({ ffmpegPath: 'ffmpeg', sink: { kind: 'null' } }),
    connectMqtt: (will) =>
      connect(opts.mqttUrl, {
        clientId: `test-agent-${opts.station}-${Math.random().toString(16).slice(2)}`,
        protocolVersion: 4,
        will: { topic: will.topic, payload: Buffer.from(will.payload), qos: 1, retain: true },
      }),
    log: quiet,
  });
  const events: AgentEvent[] = [];
  const waiters: { pred: (e: AgentEvent) => boolean; resolve: (e: AgentEvent) => void }[] = [];
  agent.onEvent((e) => {
    events.push(e);
    for (const w of [...waiters]) {
      if (w.pred(e)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(e);
      }
    }
  });
  /** Resolves with the first event (past or future) that matches. */
  const waitFor = <T extends AgentEvent['type']>(type: T, pred: (e: Extract<AgentEvent, { type: T }>) => boolean = () => true) =>
    new Promise<Extract<AgentEvent, { type: T }>>((resolve) => {
      const match = (e: AgentEvent) => e.type === type && pred(e as Extract<AgentEvent, { type: T }>);
      const seen = events.find(match);
      if (seen) return resolve(seen as Extract<AgentEvent, { type: T }>);
      waiters.push({ pred: match, resolve: resolve as (e: AgentEvent) => void });
    });
  return { agent, events, waitFor, dataDir };
}
