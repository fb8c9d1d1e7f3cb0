// `npm run bench -- scale`: the server programs (compiled, as `npm start` runs them) behind a real Mosquitto,
// on SQLite and on PostgreSQL (a private cluster of Debian's server, made for the run), with one simulated
// gateway per station: 2,000 by default (Hanoi's 579 and, imported first, the rest of the country's stations
// in code order); LP_BENCH_SCALE_GATEWAYS for another count. Each setup, in one run:
// - push_all_acked_ms_N: an emergency schedule for every station, posted to the last process started, until
//   every gateway's signed ack of the new plan is recorded;
// - proof_ingest_per_s: a burst (each gateway a start and an end proof of one airing), from the first proof
//   sent until every gateway holds no unreceipted proof;
// with two processes also kill -9 of the leading process at the first storage receipt of a burst:
// proofs_lost, duplicate_proofs and duplicate_airings (the follower takes the lead and the ingest).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Simulator } from '../edge-agent/simulator.ts';
import { makeTone } from '../test/helpers/audio.ts';
import { startMosquitto } from '../test/helpers/brokers.ts';
import { countProofs, proofTracker, scheduleBurst, simulatedGateways } from '../test/helpers/faults.ts';
import { freePort, startCluster, stopCluster } from '../test/helpers/pg-cluster.mjs';
import { api, createPgDatabase, uploadApproved } from '../test/helpers/server.ts';
import { type ServerProcess, serverProcess } from '../test/helpers/server-process.ts';
import { figure } from './report.ts';

const B = 'scale';

type Setup = { name: string; database: 'sqlite' | 'postgres'; processes: 1 | 2 };

/** The first `n` stations by code; past Hanoi's 579 the rest of the country is imported first (today's map). */
async function stations(server: ServerProcess, n: number): Promise<string[]> {
  if (n > 579) {
    const t0 = performance.now();
    const r = await api(server, 'POST', '/units/country/import', { history: true });
    if (r.status !== 200) throw new Error(`the country import answered ${r.status}`);
    figure(B, 'country_import_ms', performance.now() - t0, 'ms', { stations: r.body.stations });
  }
  const db = await server.openDb();
  try {
    return (await db.station.findMany({ select: { code: true }, orderBy: { code: 'asc' }, take: n })).map((s) => s.code);
  } finally {
    await db.$disconnect();
  }
}

/** Polls the database (one count query every 100 ms, not the server's API) until `n` deliveries since `since` are acked. */
async function acked(server: ServerProcess, since: Date, n: number, timeoutMs = 120_000): Promise<void> {
  const db = await server.openDb();
  try {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const done = await db.manifestDelivery.count({ where: { status: 'delivered', publishedAt: { gte: since } } });
      if (done >= n) return;
      if (Date.now() > end) {
        const byStatus = await db.manifestDelivery.groupBy({ by: ['status'], where: { publishedAt: { gte: since } }, _count: true });
        throw new Error(`${done} of ${n} acks within ${timeoutMs} ms (${JSON.stringify(byStatus)})`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await db.$disconnect();
  }
}

async function runSetup(setup: Setup, brokerUrl: string, pgAdmin: string | undefined, gateways: number): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'lp-scale-'));
  const databaseUrl = setup.database === 'postgres' && pgAdmin ? await createPgDatabase(pgAdmin) : undefined;
  const env = (instance: string) => ({
    LP_MQTT_URL: brokerUrl,
    LP_MQTT_PUBLIC_URL: brokerUrl,
    LP_INSTANCE: instance,
    ...(databaseUrl ? { LP_DATABASE_URL: databaseUrl } : {}),
  });
  const servers: ServerProcess[] = [];
  let sim: Simulator | undefined;
  try {
    servers.push(await serverProcess({ dataDir, env: env('a') }));
    if (setup.processes === 2) servers.push(await serverProcess({ dataDir, env: env('b') }));
    const front = servers.at(-1) as ServerProcess;
    const { body: media } = await uploadApproved(front, makeTone(join(dataDir, 'scale.wav'), { seconds: 1 }));
    const codes = await stations(front, gateways);
    sim = await simulatedGateways({ ...front, mqttUrl: brokerUrl }, codes);
    const extra = { setup: setup.name, gateways: codes.length };

    const rejected: string[] = [];
    sim.onEvent((e) => e.type === 'acked' && e.status === 'rejected' && rejected.push(e.device));
    const since = new Date();
    const t0 = performance.now();
    const r = await api(front, 'POST', '/schedules', {
      mediaId: media.id,
      stations: codes,
      startsAt: new Date(Date.now() + 3600_000).toISOString(),
      priority: 'emergency',
    });
    if (r.status !== 201) throw new Error(`scheduling answered ${r.status}`);
    await acked(front, since, codes.length).catch((err: Error) => {
      const silent = sim?.gateways.filter((g) => !g.manifest || !g.connected).length;
      throw new Error(`${err.message}; ${rejected.length} plans refused by gateways, ${silent} gateways offline or without a plan`);
    });
    figure(B, `push_all_acked_ms_${codes.length}`, performance.now() - t0, 'ms', extra);

    const tracker = proofTracker(sim, codes.length);
    let first = 0;
    tracker.onEvent((e) => {
      if (e.type === 'reported' && !first) first = performance.now();
    });
    const burst = await scheduleBurst(front, sim, media.id as string);
    if (setup.processes === 2) {
      // The leader (the first process) dies at its first storage receipt; the follower takes over.
      let killed = false;
      tracker.onEvent((e) => {
        if (killed || e.type !== 'receipted') return;
        killed = true;
        void servers[0]?.kill9();
      });
    }
    await tracker.settled(240_000);
    const seconds = (performance.now() - first) / 1000;
    figure(B, 'proof_ingest_per_s', tracker.sent.size / seconds, 'proofs/s', { ...extra, proofs: tracker.sent.size });
    if (setup.processes === 2) {
      const db = await front.openDb();
      try {
        const f = await countProofs(db, tracker.sent, burst.occurrences);
        const airings = await db.occurrence.groupBy({ by: ['stationId', 'startsAt', 'mediaId'], _count: true });
        figure(B, 'proofs_lost', f.lost, 'proofs', { ...extra, sent: f.sent, stored: f.stored, scenario: 'leader killed mid-burst' });
        figure(B, 'duplicate_proofs', f.duplicates, 'proofs', extra);
        figure(
          B,
          'duplicate_airings',
          airings.reduce((n, a) => n + a._count - 1, 0),
          'airings',
          extra,
        );
      } finally {
        await db.$disconnect();
      }
    }
  } finally {
    await sim?.stop();
    for (const s of servers) await s.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function run(): Promise<void> {
  const gateways = Number(process.env.LP_BENCH_SCALE_GATEWAYS ?? 2000);
  const broker = await startMosquitto();
  const cluster = { dir: mkdtempSync(join(tmpdir(), 'lp-scale-pg-')), port: await freePort() };
  try {
    const pgAdmin = startCluster(cluster);
    const setups = [
      { name: 'sqlite, 1 process', database: 'sqlite', processes: 1 },
      { name: 'postgres, 1 process', database: 'postgres', processes: 1 },
      { name: 'postgres, 2 processes', database: 'postgres', processes: 2 },
    ] as const;
    // LP_BENCH_SCALE_SETUPS=sqlite (or postgres, "2 processes"): only the setups whose name contains it.
    for (const setup of setups.filter((s) => s.name.includes(process.env.LP_BENCH_SCALE_SETUPS ?? '')))
      await runSetup(setup, broker.url, pgAdmin, gateways);
  } finally {
    await broker.stop();
    stopCluster(cluster);
    rmSync(cluster.dir, { recursive: true, force: true });
  }
}
