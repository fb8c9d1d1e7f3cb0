// Wires the agent to the real adapters (files under one data directory, ffmpeg, MQTT.js, node:http).
// The entry point, the tests and the benchmarks all build their agents here.
import { join } from 'node:path';
import { openOpusCodec } from '#protocol';
import { Agent, type AgentLog, type AgentOptions } from './agent.ts';
import { type BackoffOptions, gatewayConnector } from './backoff.ts';
import { AudioCache } from './cache.ts';
import type { Clock } from './clock.ts';
import { nodeFetch } from './http.ts';
import { createFfmpegPlayer, type Zones } from './player.ts';
import { Outbox, StateStore } from './store.ts';

export interface GatewayWiring {
  dataDir: string;
  serverUrl: string;
  /** The broker; absent: the URL the server gave at enrollment. */
  mqttUrl?: string;
  clock: Clock;
  log: AgentLog;
  /** Outputs by zone code; tests and benchmarks use `{ z1: { kind: 'null' } }`. */
  zones: Zones;
  enrollToken?: string;
  ffmpegPath?: string;
  reboot?: () => void;
  /** Start although the state is unreadable ([StateStore.load]); the operator's explicit choice. */
  resetState?: boolean;
  options?: Partial<AgentOptions>;
  reconnect?: BackoffOptions;
}

export function createGatewayAgent(w: GatewayWiring): Agent {
  return new Agent({
    enrollToken: w.enrollToken,
    serverUrl: w.serverUrl,
    clock: w.clock,
    fetch: nodeFetch,
    store: new StateStore(w.dataDir, { reset: w.resetState, now: () => w.clock.now() }),
    outbox: new Outbox(w.dataDir),
    cache: new AudioCache(join(w.dataDir, 'cache'), { fetch: nodeFetch }),
    player: createFfmpegPlayer({ ffmpegPath: w.ffmpegPath ?? 'ffmpeg', zones: w.zones }),
    connectMqtt: gatewayConnector(w.mqttUrl, w.reconnect),
    // [P-5.6] libopus is loaded when the first live stream comes, not at start.
    opusDecoder: () => openOpusCodec(),
    reboot: w.reboot,
    log: w.log,
    options: w.options,
  });
}
