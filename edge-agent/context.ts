// What the agent's rooms share: its dependencies, tunables, events and the running context built at
// start (identity, durable state, signer, MQTT session). Each room gets this context and nothing else.
import type { MqttClient } from 'mqtt';
import type { ManifestEntry, PlaybackReport, RelaySegment, Reply, Signer, Telemetry } from '#protocol';
import type { AudioCache, Fetch } from './cache.ts';
import type { Clock } from './clock.ts';
import type { JitterOptions } from './jitter.ts';
import type { OpusDecoder } from './live.ts';
import type { Playback, Player } from './player.ts';
import type { AgentState, Outbox, StateStore } from './store.ts';

export const AGENT_VERSION = '0.1.0';

/** Tunables with the defaults a gateway ships with; the agent's config file may change them. */
export interface AgentOptions {
  /** Audio for items starting within this window is fetched ahead of time. */
  prefetchHorizonMs: number;
  /** The audio cache's share of the gateway's disk. */
  cacheBudgetBytes: number;
  /** [P-3.4] telemetry period. */
  heartbeatMs: number;
  /** Fade in and out, ms; 0 for none. */
  fadeMs: number;
  /** Uniform in [0, 1), for retry jitter. */
  random: () => number;
  /** [P-8.3] The live playout buffer's bounds (defaults: 40 ms floor, 1000 ms ceiling). */
  liveJitter?: Partial<Omit<JitterOptions, 'frameMs'>>;
}
export const DEFAULT_AGENT_OPTIONS: AgentOptions = {
  prefetchHorizonMs: 3 * 86_400_000,
  cacheBudgetBytes: 1 << 30,
  heartbeatMs: 60_000,
  fadeMs: 300,
  random: Math.random,
};

export interface AgentLog {
  info(msg: string, obj?: object): void;
  warn(msg: string, obj?: object): void;
}

/** MQTT login issued at enrollment ([P-5.1]). */
export interface MqttCredentials {
  /** The broker the server named at enrollment; the agent's own setting wins over it. */
  url?: string;
  clientId: string;
  username: string;
  password: string;
}

export interface AgentDeps {
  /** One-time token from provisioning; needed only until the gateway has enrolled. */
  enrollToken?: string;
  serverUrl: string;
  clock: Clock;
  fetch: Fetch;
  store: StateStore;
  /** Durable reports awaiting the server's storage receipt ([P-3.8]). */
  outbox: Outbox;
  cache: AudioCache;
  player: Player;
  /** [P-5.6] Opus decoding for live audio, loaded when the first stream comes; absent: live.start answers NOT_SUPPORTED. */
  opusDecoder?: () => Promise<OpusDecoder>;
  /** Called after replying to a reboot command; absent where the agent may not reboot its host. */
  reboot?: () => void;
  /** Creates the MQTT connection with the given last-will and login; the agent owns it afterwards. */
  connectMqtt(will: { topic: string; payload: string }, credentials: MqttCredentials): MqttClient;
  log: AgentLog;
  options?: Partial<AgentOptions>;
}

export type AgentEvent =
  | { type: 'enrolled'; device: string; station: string }
  | { type: 'manifest'; version: number; entries: number }
  /** What airs now was armed: the manifest's version, its airings with the group plans' ([P-3.10]), the plans held. */
  | { type: 'plan'; version: number; entries: number; groups: { unit: string; version: number }[] }
  /** [P-3.10] A newer group plan of a unit was received and kept. */
  | { type: 'group-plan'; unit: string; version: number; entries: number }
  | { type: 'rejected'; code: string }
  | { type: 'cached'; sha256: string }
  | { type: 'armed'; occurrenceId: string; at: number }
  | { type: 'started'; occurrenceId: string; at: number }
  /** The player's first audio sample of an item came out at `at` (from its first measured second). */
  | { type: 'on-air'; occurrenceId: string; at: number }
  | { type: 'finished'; occurrenceId: string; report: PlaybackReport }
  | { type: 'replied'; reply: Reply }
  /** The server's storage receipt named a report and it left the outbox ([P-3.8]); `refused` when it was refused for good. */
  | { type: 'delivered'; id: string; refused?: string }
  /** [P-3.4] what the gateway said about itself. */
  | { type: 'telemetry'; body: Telemetry }
  /** An audio download failed; the next attempt waits `retryInMs`. */
  | { type: 'fetch-failed'; sha256: string; retryInMs: number; error: string }
  /** A local file could not be read; it was kept aside under `keptAs` ([P-3.2] nothing is forgotten silently). */
  | { type: 'corrupt-state'; file: string; keptAs: string; error: string }
  /** [P-2.5] The group topics followed changed (a manifest named the station's units anew). */
  | { type: 'groups'; groups: string[] }
  | { type: 'subscribed' }
  /** [P-5.11] A relay left one source (the segment says which, how long, why). */
  | { type: 'relay'; occurrenceId: string; segment: RelaySegment }
  /** [P-5.6] A live stream was prepared, went on the air, or ended (and why). */
  | { type: 'live'; streamId: string; state: 'ready' | 'on-air' | 'ended'; why?: string };

/** One item on the air (or about to be); `ended` settles when its report is written. */
export interface Airing {
  entry?: ManifestEntry;
  startedAt: number;
  playback?: Playback;
  /** Level 0–100 per zone it plays on. */
  zones: Record<string, number>;
  /** Zones a zone-stop silenced for the rest of this item; volume commands leave them silent. */
  muted?: Set<string>;
  why?: 'PREEMPTED' | 'INTERRUPTED' | 'STOPPED' | 'CANCELLED';
  /** When the player's first sample came out, once its first second was measured. */
  onAirAt?: number;
  ended: Promise<void>;
}

/** The running agent as its rooms see it: built once enrollment is known. */
export interface AgentContext {
  readonly deps: AgentDeps;
  readonly options: AgentOptions;
  /** The durable state (state.json); rooms change it and call save(). */
  readonly state: AgentState;
  readonly signer: Signer;
  /** This gateway's topic id and its station, from enrollment. */
  readonly device: string;
  readonly station: string;
  /** The MQTT session, once connected for the first time. */
  mqtt?: MqttClient;
  stopped: boolean;
  /** When the agent started, for uptime. */
  readonly bootAt: number;
  emit(e: AgentEvent): void;
  save(): void;
  /**
   * [P-5.4.1] Faults the gateway cannot report in signed telemetry (its key is refused), sent in its unsigned
   * `state` message instead; `publishState` sends that message again after a change.
   */
  readonly stateFaults: Set<string>;
  publishState(): void;
}
