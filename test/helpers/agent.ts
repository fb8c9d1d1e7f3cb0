import { type ManifestEntry, seal } from '#protocol';
import type { AgentEvent, AgentOptions } from '../../edge-agent/agent.ts';
import type { Clock } from '../../edge-agent/clock.ts';
import type { Zones } from '../../edge-agent/player.ts';
import { createGatewayAgent } from '../../edge-agent/wire.ts';
import { scratchDir } from './scratch.ts';
import { provisionDevice, type TestServer } from './server.ts';

const quiet = { info() {}, warn() {} };

/** An uploaded item as manifests and commands name it ([P-3.1] media). */
export const mediaRef = (media: Record<string, unknown>): ManifestEntry['media'] => ({
  sha256: media.sha256 as string,
  path: `/blobs/${media.sha256}`,
  durationMs: media.durationMs as number,
  sizeBytes: media.sizeBytes as number,
  codec: 'opus',
});

/** A manifest entry for an uploaded item, as the server would write it. */
export const manifestEntry = (
  media: Record<string, unknown>,
  occurrenceId: string,
  startsAt: number,
  priority: ManifestEntry['priority'] = 'normal',
): ManifestEntry => ({
  occurrenceId,
  startsAt: new Date(startsAt).toISOString(),
  priority,
  media: mediaRef(media),
});

/** A full manifest for one day ahead, signed with the server's key, as the payload a device receives; issued at `issuedAt` (default `now`). */
export function signedManifest(
  server: TestServer,
  m: { station: string; version: number; entries: ManifestEntry[]; now: number; issuedAt?: number; groups?: string[] },
): string {
  const body = {
    station: m.station,
    version: m.version,
    generatedAt: new Date(m.now).toISOString(),
    horizonUntil: new Date(m.now + 86_400_000).toISOString(),
    entries: m.entries,
    ...(m.groups ? { groups: m.groups } : {}),
  };
  return JSON.stringify(seal('manifest', body, server.key.signer, { now: new Date(m.issuedAt ?? m.now), ttlMs: 3600_000 }));
}

/**
 * A real agent (real MQTT, HTTP, ffmpeg null sink), usually on a fake clock. Without `dataDir` it is a new
 * gateway: a device is provisioned for the station and the agent enrolls with its token; with the
 * `dataDir` of an earlier agent it is that gateway restarting. serverUrl and mqttUrl default to the server's.
 */
export async function makeAgent(opts: {
  station: string;
  server: TestServer;
  clock: Clock;
  serverUrl?: string;
  mqttUrl?: string;
  dataDir?: string;
  options?: Partial<AgentOptions>;
  /** The gateway's outputs (all null sinks); default one zone "z1", as the server provisions. */
  zones?: string[];
  /** The zones the server provisions for it, when they differ from its outputs (a misconfigured gateway). */
  serverZones?: string[];
  /** Other sinks than the null one for some zones (a benchmark's FIFO). */
  sinks?: Zones;
  /** Start although the state is unreadable (the operator's --reset-state). */
  resetState?: boolean;
  /** Enroll with a new token even with a `dataDir` (after a reset). */
  reenroll?: boolean;
}) {
  const zones = opts.zones ?? ['z1'];
  const enrollToken =
    opts.dataDir && !opts.reenroll
      ? undefined
      : await provisionDevice(
          opts.server,
          opts.station,
          opts.zones || opts.serverZones ? { zones: (opts.serverZones ?? zones).map((code) => ({ code })) } : {},
        );
  const dataDir = opts.dataDir ?? scratchDir('loaphuong-agent-');
  const mqttUrl = opts.mqttUrl ?? opts.server.mqttUrl;
  const agent = createGatewayAgent({
    enrollToken,
    dataDir,
    serverUrl: opts.serverUrl ?? opts.server.url,
    mqttUrl,
    clock: opts.clock,
    zones: { ...Object.fromEntries(zones.map((z) => [z, { kind: 'null' as const }])), ...opts.sinks },
    log: quiet,
    options: opts.options,
    resetState: opts.resetState,
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
  /** Resolves with the first event (past or future) that matches; fails, naming it, after `timeoutMs` of real time. */
  const waitFor = <T extends AgentEvent['type']>(
    type: T,
    pred: (e: Extract<AgentEvent, { type: T }>) => boolean = () => true,
    timeoutMs = 60_000,
  ) =>
    new Promise<Extract<AgentEvent, { type: T }>>((resolve, reject) => {
      const match = (e: AgentEvent) => e.type === type && pred(e as Extract<AgentEvent, { type: T }>);
      const seen = events.find(match);
      if (seen) return resolve(seen as Extract<AgentEvent, { type: T }>);
      const waiter = {
        pred: match,
        resolve: (e: AgentEvent) => {
          clearTimeout(timer);
          resolve(e as Extract<AgentEvent, { type: T }>);
        },
      };
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(waiter), 1);
        reject(new Error(`no "${type}" event matching ${pred.toString().slice(0, 120)} within ${timeoutMs} ms`));
      }, timeoutMs);
      waiters.push(waiter);
    });
  return { agent, events, waitFor, dataDir };
}

/** makeAgent, started, stopped when the test ends, and resolved once subscribed to its topics. */
export async function onlineAgent(t: { teardown(fn: () => unknown): void }, opts: Parameters<typeof makeAgent>[0]) {
  const gw = await makeAgent(opts);
  await gw.agent.start();
  t.teardown(() => gw.agent.stop());
  await gw.waitFor('subscribed');
  return gw;
}
