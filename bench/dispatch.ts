// Dispatch at city and country scale, with simulated gateways over the embedded broker (one MQTT
// connection each, in a child process: gateways are other machines, and 2 × 10,542 sockets exceed one
// process's file limit here):
// - compile_ms_579: compiling the manifests of all 579 Hanoi stations (no publishing);
// - push_all_acked_ms_579: an emergency for all of Hanoi, from the API request until every gateway's
//   signed ack is recorded as delivered;
// - push_all_acked_ms_10542: the same for the whole country (POST /units/country/import with history:
//   the 34 provinces and 3,321 communes of 2025, one station per 2024 commune, 10,542, under their 2025
//   units); country_import_ms is how long that import took.
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BrokerAccess } from '../server/mqtt/access.ts';
import { makeTone } from '../test/helpers/audio.ts';
import { type Broker, startMosquitto } from '../test/helpers/brokers.ts';
import { cpuMs, procStatus } from '../test/helpers/proc.ts';
import { uploadApproved } from '../test/helpers/server.ts';
import { startTarget, type Target, unitLaunch } from './dispatch-target.ts';
import { figure, median } from './report.ts';

/**
 * [P-3.10] The simulated gateways hold group plans, as the agent does; LP_BENCH_V1=1 runs them as v1.0
 * devices that get a complete manifest each (the figures before group plans).
 */
const GROUP_PLANS = process.env.LP_BENCH_V1 !== '1';
/**
 * LP_BENCH_BROKER=mosquitto: the gateways connect to a Mosquitto of their own (as a province deploys,
 * deploy/README.md) and the server is one client of it; by default they connect to the server's embedded broker.
 */
const MOSQUITTO = process.env.LP_BENCH_BROKER === 'mosquitto';

async function api<T>(server: Target, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${server.url}/api/v1${path}`, {
    method,
    headers: { ...server.auth, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  return (await res.json()) as T;
}

/**
 * Simulated gateways in a child process, as real gateways are other machines: their signature checks and
 * acks must not share the server's event loop. Resolves once every one is enrolled and subscribed.
 */
async function simulators(
  server: Target,
  tokens: string[],
): Promise<{ online: number; rssMb: number; cpuMs(): number; stop(): Promise<void> }> {
  const child = fork(join(dirname(fileURLToPath(import.meta.url)), 'sim-child.ts'), { execArgv: ['--import', 'tsx'] });
  const started = once(child, 'message');
  child.send({ serverUrl: server.url, mqttUrl: server.mqttUrl, tokens, groupPlans: GROUP_PLANS });
  const [{ ready, rssMb }] = (await started) as [{ ready: number; rssMb: number }];
  // Each enrollment sent its gateway a first plan: measured pushes start once every one is acknowledged.
  const enrolled = { revokedAt: null, enrolledAt: { not: null } };
  while (await server.db.manifestDelivery.count({ where: { status: 'pending', station: { devices: { some: enrolled } } } }))
    await new Promise((r) => setTimeout(r, 200));
  return {
    online: ready,
    cpuMs: () => cpuMs(child.pid as number),
    rssMb,
    async stop() {
      if (!child.connected) return;
      const exited = once(child, 'exit');
      child.send('stop');
      await exited;
    },
  };
}

/** Provisions one simulated gateway per station below `unit`; answers their enrollment tokens. */
async function provision(server: Target, units: string[]): Promise<string[]> {
  const tokens: string[] = [];
  for (const unit of units)
    tokens.push(
      ...(await api<{ created: { enrollToken: string }[] }>(server, 'POST', '/devices/provision', { unit })).created.map(
        (c) => c.enrollToken,
      ),
    );
  return tokens;
}

/**
 * POSTs the schedule and waits until `n` gateways hold the change; returns the elapsed ms. A v1.0 gateway
 * holds it once it acknowledged the manifest published for it; a gateway that holds group plans ([P-3.10])
 * once its ack names a newer version of its unit's group plan than before the request. A server in this
 * process has its acks counted from its events, in memory: polling the database at each ack would load the
 * server being measured. A server in its own process has its deliveries counted from here every 50 ms, on a
 * connection of this process's (SQLite in WAL mode: reading takes nothing of the server's event loop). The
 * count is checked in the database once, after.
 */
async function pushAll(
  server: Target,
  mediaId: string,
  units: string[],
  sims: { online: number; cpuMs(): number },
): Promise<{ ms: number; request_ms: number; first_ack_ms: number; server_cpu_ms: number; simulators_cpu_ms: number }> {
  const n = sims.online;
  const since = new Date();
  const before = new Map(
    (
      await server.db.groupPlan.findMany({
        where: { unit: { code: { in: units } } },
        select: { version: true, unit: { select: { code: true } } },
      })
    ).map((p) => [p.unit.code, p.version]),
  );
  const stored = () =>
    GROUP_PLANS
      ? server.db.groupDelivery.count({
          where: { OR: units.map((code) => ({ unit: { code }, version: { gt: before.get(code) ?? 0 } })) },
        })
      : server.db.manifestDelivery.count({ where: { status: 'delivered', publishedAt: { gte: since } } });
  let firstAckMs = 0;
  let onCount = (_n: number) => {};
  const cpu0 = { server: server.cpuMs(), sims: sims.cpuMs() };
  const t0 = performance.now();
  const all = new Promise<void>((resolve) => {
    onCount = (count) => {
      if (count && !firstAckMs) firstAckMs = performance.now() - t0;
      if (count >= n) resolve();
    };
  });
  let acked = 0;
  const unwatch = watchAcks(server, units, before, stored, (count) => {
    acked = count;
    onCount(count);
  });
  let requestMs = 0;
  try {
    await api(server, 'POST', '/schedules', {
      mediaId,
      targets: { units },
      startsAt: new Date(Date.now() + 3600_000).toISOString(),
      priority: 'emergency',
    });
    requestMs = performance.now() - t0;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${acked} of ${n} acks in 180 s`)), 180_000);
    });
    await Promise.race([all, late]).finally(() => clearTimeout(timer));
  } finally {
    unwatch();
  }
  const ms = performance.now() - t0;
  // Both sides' CPU time over the push (the server's with its worker threads): on this 2-core machine they share the cores.
  const cpu = { server_cpu_ms: server.cpuMs() - cpu0.server, simulators_cpu_ms: sims.cpuMs() - cpu0.sims };
  const recorded = await stored();
  if (recorded < n) throw new Error(`${n} gateways acknowledged, but ${recorded} deliveries are recorded`);
  // request_ms: until the API answered (airings written, plans compiled and published)
  return { ms, request_ms: Math.round(requestMs), first_ack_ms: Math.round(firstAckMs), ...cpu };
}

/** Calls `onCount` with how many gateways hold the push so far (see pushAll); returns how to stop. */
function watchAcks(
  server: Target,
  units: string[],
  before: Map<string, number>,
  stored: () => Promise<number>,
  onCount: (n: number) => void,
): () => void {
  const events = server.inProcess?.dispatch.events;
  if (!events) {
    let stopped = false;
    void (async () => {
      while (!stopped) {
        onCount(await stored());
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    return () => {
      stopped = true;
    };
  }
  const acked = new Set<string>();
  const onAck = (a: { device: string; status: string }) => {
    if (!GROUP_PLANS && a.status === 'delivered') onCount(acked.add(a.device).size);
  };
  const onGroupAck = (a: { device: string; unit: string; version: number }) => {
    if (units.includes(a.unit) && a.version > (before.get(a.unit) ?? 0)) onCount(acked.add(a.device).size);
  };
  events.on('ack', onAck);
  events.on('group-ack', onGroupAck);
  return () => {
    events.off('ack', onAck);
    events.off('group-ack', onGroupAck);
  };
}

/**
 * LP_BENCH_CPU_PROFILE=file: a CPU profile of this process (the server and its broker) while `fn` runs, for
 * Chrome's profiler; the simulators are in their own process.
 */
async function profiled<T>(fn: () => Promise<T>): Promise<T> {
  const file = process.env.LP_BENCH_CPU_PROFILE;
  if (!file) return fn();
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  try {
    return await fn();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(file, JSON.stringify(profile));
    session.disconnect();
  }
}

/** Mosquitto's resident memory now and its peak over its life (VmHWM). */
function mosquittoRss(pid: number): Record<string, number> {
  const s = procStatus(pid, 'mosquitto');
  return { mosquitto_rss_mb: s.mosquitto_rss_mb as number, mosquitto_peak_rss_mb: s.mosquitto_life_peak_rss_mb as number };
}

export async function run(): Promise<void> {
  const broker: Broker | undefined = MOSQUITTO ? await startMosquitto() : undefined;
  // Warnings go to stderr: a lost or refused ack shows there.
  const server = await startTarget(
    { LP_SEED: 'hanoi-2025', LP_SEED_POLICY: 'hanoi-2021', LP_LOG_LEVEL: 'warn', ...broker?.env },
    broker?.url,
  );
  const where = server.inProcess ? 'this process' : `its own process, as deploy/systemd runs it: ${JSON.stringify(unitLaunch())}`;
  let sims: Awaited<ReturnType<typeof simulators>> | undefined;
  try {
    const tone = makeTone(join(mkdtempSync(join(tmpdir(), 'lp-bench-dispatch-')), 'bench-dispatch.wav'), { seconds: 5 });
    const { body: media } = await uploadApproved(server, tone);
    const hanoiSims = await simulators(server, await provision(server, ['01']));
    sims = hanoiSims;
    const hanoi = sims.online;

    // With group plans, the first programme for a unit also sends each gateway a manifest that names the
    // unit's plan; later changes for the unit travel as the plan alone. Both are measured.
    if (GROUP_PLANS) {
      const first = await pushAll(server, media.id as string, ['01'], hanoiSims);
      figure('dispatch', 'push_first_acked_ms_579', first.ms, 'ms', { gateways: hanoi, request_ms: first.request_ms });
    }
    const hanoiPush = await profiled(() => pushAll(server, media.id as string, ['01'], hanoiSims));
    figure('dispatch', 'push_all_acked_ms_579', hanoiPush.ms, 'ms', {
      gateways: hanoi,
      group_plans: GROUP_PLANS,
      request_ms: hanoiPush.request_ms,
      first_ack_ms: hanoiPush.first_ack_ms,
      server_cpu_ms: hanoiPush.server_cpu_ms,
      simulators_cpu_ms: hanoiPush.simulators_cpu_ms,
      server: where,
    });
    // Compiling again after the change: every station has an entry and a policy to carry (the server's own
    // services: in this process only).
    const local = server.inProcess;
    if (local) {
      const ids = (await server.db.station.findMany({ select: { id: true } })).map((s) => s.id);
      const t0 = performance.now();
      await local.dispatch.compileMany(ids, await local.units.tree());
      figure('dispatch', 'compile_ms_579', performance.now() - t0, 'ms', { stations: ids.length });
    }

    // LP_BENCH_COUNTRY=0: Hanoi only (the country part takes about 20 minutes here, most of it provisioning).
    if (process.env.LP_BENCH_COUNTRY === '0') return;
    // The rest of the country on today's map, its stations those of the 2024 communes.
    const imported = performance.now();
    const country = await api<{ stations: number }>(server, 'POST', '/units/country/import', { history: true });
    figure('dispatch', 'country_import_ms', performance.now() - imported, 'ms', { stations: country.stations });
    const provinces = (await server.db.unit.findMany({ where: { parentId: null, endedAt: null }, select: { code: true } })).map(
      (u) => u.code,
    );
    await sims.stop();
    // Every gateway of the country, Hanoi's with fresh tokens.
    const tokens = await provision(
      server,
      provinces.filter((p) => p !== '01'),
    );
    for (const d of await server.db.device.findMany({ where: { code: { startsWith: 'HN-' } }, select: { code: true } }))
      tokens.push((await api<{ enrollToken: string }>(server, 'POST', `/devices/${d.code}/enrollment-token`)).enrollToken);
    sims = await simulators(server, tokens);
    if (GROUP_PLANS) {
      const first = await pushAll(server, media.id as string, provinces, sims);
      figure('dispatch', 'push_first_acked_ms_10542', first.ms, 'ms', { gateways: sims.online, request_ms: first.request_ms });
    }
    // The server's peak RSS during the push, sampled every 50 ms; what it held before the push (all gateways
    // enrolled and connected), and (in this process) its JavaScript heap and buffers after.
    const before = server.status();
    let peak = server.rssMb();
    const sampler = setInterval(() => {
      peak = Math.max(peak, server.rssMb());
    }, 50);
    const { ms: pushMs, ...push } = await pushAll(server, media.id as string, provinces, sims);
    clearInterval(sampler);
    const after = server.status();
    figure('dispatch', 'push_all_acked_ms_10542', pushMs, 'ms', {
      gateways: sims.online,
      group_plans: GROUP_PLANS,
      ...push,
      server: where,
      server_peak_rss_mb: Math.max(peak, after.server_rss_mb as number),
      server_rss_before_mb: before.server_rss_mb,
      server_rss_anon_before_mb: before.server_rss_anon_mb,
      server_rss_file_before_mb: before.server_rss_file_mb,
      ...after,
      ...server.heap(),
      simulator_rss_mb: sims.rssMb,
      broker: MOSQUITTO ? 'mosquitto' : 'embedded',
      // Mosquitto's resident memory after the push and its peak over the run.
      ...(broker?.pid ? mosquittoRss(broker.pid) : {}),
    });
    // LP_BENCH_HEAP_SNAPSHOT=file: the server's heap after the push, for a heap profiler. Not before it: writing
    // a country-scale snapshot stops the event loop for longer than the gateways' keep-alive, and they drop.
    if (process.env.LP_BENCH_HEAP_SNAPSHOT) await server.heapSnapshot(process.env.LP_BENCH_HEAP_SNAPSHOT);
    if (!local) return;
    // An external Mosquitto's password and ACL files for every gateway of the country, rewritten at each
    // enrollment and revocation (bursts coalesce into one rewrite).
    const access = new BrokerAccess({
      db: server.db,
      devices: local.devices,
      units: local.units,
      now: () => new Date(),
      anonymous: false,
      server: { username: 'loaphuong.server', password: 'bench-password' },
    });
    const dir = mkdtempSync(join(tmpdir(), 'lp-bench-mosquitto-'));
    const times: number[] = [];
    let written = { devices: 0, missing: [] as string[] };
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      written = await access.writeMosquittoFiles(dir);
      times.push(performance.now() - t0);
    }
    figure('dispatch', 'mosquitto_files_ms', Math.round(median(times)), 'ms', {
      devices: written.devices,
      acl_kb: Math.round(statSync(join(dir, 'acl')).size / 1024),
    });
  } finally {
    await sims?.stop();
    await server.stop();
    await broker?.stop();
  }
}
