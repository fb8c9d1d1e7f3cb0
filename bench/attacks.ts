// `npm run bench -- attacks`: the attack run of issue #17 against the server program (its embedded broker
// and SQLite) on its shipped limits, from loopback addresses of this machine. Figures:
// - audit_rows_per_1000_anonymous_posts: audit rows added by 1,000 refused anonymous POSTs (must be 0).
// - rss_growth_mb_big_connect: server RSS growth after 10 sockets each declare a 255 MB CONNECT (under 50).
// - held_slow_connections_after_30s: of 300 logins whose body trickles a byte a second (0).
// - health_p50_ms_under_flood: /health from another address while one floods it, with the idle figure.
// - owner_login_ok_during_lockout_attack: 1 when the owner (password + TOTP) signs in from another address
//   while an attacker guesses their password.
// - heap_growth_mb_refused_flushes: the heap after 200 flushes of refused-request counts of 5–1,000 rows.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { totpCode } from '../server/auth/totp.ts';
import { openDatabase } from '../server/db/client.ts';
import { applyMigrations } from '../server/db/migrate.ts';
import { RefusedRequests } from '../server/services/refused-requests.ts';
import { anonymousPosts, bigPackets, healthFlood, lockoutAttack, slowBodies } from '../test/helpers/attacks.ts';
import { rssMb } from '../test/helpers/proc.ts';
import { api, signedInAs } from '../test/helpers/server.ts';
import { serverProcess } from '../test/helpers/server-process.ts';
import { figure } from './report.ts';

const B = 'attacks';

/** Resolves after `ms` of wall time: the attacks are timed against the server's real timeouts. */
const wall = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function run(): Promise<void> {
  // The shipped limits; only the login rate limit the test helpers raise is put back to its default.
  const server = await serverProcess({ env: { LP_LOGINS_PER_MINUTE: '30' } });
  try {
    const pid = server.child?.pid as number;
    const db = await server.openDb();
    const rows = () => db.auditEvent.count();
    const before = await rows();
    const statuses = await anonymousPosts(server.url, 1000, 50);
    await wall(6000); // the refused-request counts are added every 5 s
    const refused = await db.refusedRequest.aggregate({ _sum: { count: true }, _count: true });
    const counted = { n: refused._sum.count ?? 0, k: refused._count };
    figure(B, 'audit_rows_per_1000_anonymous_posts', (await rows()) - before, 'rows', {
      statuses,
      counted: counted.n,
      countRows: counted.k,
    });
    await db.$disconnect();

    const rssBefore = rssMb(pid);
    const big = await bigPackets(server.mqttUrl, {
      sockets: 10,
      declaredBytes: 255 * 1024 * 1024,
      sendBytes: 50 * 1024 * 1024,
      ms: 30_000,
    });
    await wall(1000);
    figure(B, 'rss_growth_mb_big_connect', Math.round((rssMb(pid) - rssBefore) * 10) / 10, 'MB', {
      closed: big.closed,
      rssBeforeMb: Math.round(rssBefore),
    });

    const slow = await slowBodies(server.url, 300, '127.0.0.2');
    await wall(1000);
    const heldAtOnce = slow.open();
    await wall(29_000);
    figure(B, 'held_slow_connections_after_30s', slow.open(), 'connections', { of: 300, heldAfter1s: heldAtOnce });
    slow.stop();

    const idle = await healthFlood(server.url, { flood: 0, concurrency: 1, probes: 100 });
    const flood = await healthFlood(server.url, { flood: 5000, concurrency: 50, probes: 100 });
    figure(B, 'health_p50_ms_under_flood', flood.p50Ms, 'ms', { idleP50Ms: idle.p50Ms, flood: flood.floodStatuses });

    const token = await signedInAs(server, 'admin.owner', 'province_admin');
    const secret = (await api(server, 'POST', '/auth/totp/setup', {}, token)).body.secret as string;
    await api(server, 'POST', '/auth/totp/enable', { code: totpCode(secret, new Date()) }, token);
    // The next 30-second step, so the owner's code is not the one just used to enable.
    await wall(30_000 - (Date.now() % 30_000) + 100);
    const attack = await lockoutAttack(server.url, {
      username: 'admin.owner',
      password: 'a-long-password-1',
      tries: 200,
      totp: () => totpCode(secret, new Date()),
      // Addresses no earlier attack used, so the per-address rate limit has not already stopped them.
      from: '127.0.0.12',
      ownerFrom: '127.0.0.13',
    });
    figure(B, 'owner_login_ok_during_lockout_attack', attack.owner.status === 200 ? 1 : 0, 'bool', { attacker: attack.attacker });
  } finally {
    await server.stop();
  }
  await refusedFlushes();
}

/**
 * heap_growth_mb_refused_flushes: heap growth over 200 flushes of refused-request counts (the server's
 * RefusedRequests on SQLite, in this process) whose row counts strangers choose, 5 to 1,000 rows each, with the
 * growth when every flush holds 500 rows beside it. Each flush's batch was once planned and cached per size.
 */
async function refusedFlushes(): Promise<void> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const heapMb = () => {
    gc();
    return process.memoryUsage().heapUsed / 1048576;
  };
  const growth: Record<string, number> = {};
  for (const rows of ['varying', 'fixed'] as const) {
    const dir = mkdtempSync(join(tmpdir(), 'lp-bench-refused-'));
    const file = join(dir, 'db.sqlite');
    await applyMigrations(file);
    const db = await openDatabase(file);
    let at = Date.UTC(2026, 0, 1);
    const refused = new RefusedRequests({ db, now: () => new Date(at) });
    const flush = async (n: number) => {
      at += 3600_000; // a new hour: every row is new
      for (let i = 0; i < n; i++) refused.count(`10.0.${i >> 8}.${i & 255}`, 'POST /api/v1/auth/login', 401);
      await refused.flush();
    };
    for (let i = 1; i <= 20; i++) await flush(rows === 'varying' ? i * 10 : 500);
    const before = heapMb();
    for (let i = 0; i < 200; i++) await flush(rows === 'varying' ? i * 5 + 5 : 500);
    growth[rows] = Math.round((heapMb() - before) * 10) / 10;
    await db.$disconnect();
    rmSync(dir, { recursive: true, force: true });
  }
  figure(B, 'heap_growth_mb_refused_flushes', growth.varying as number, 'MB', { flushes: 200, fixedRowsGrowthMb: growth.fixed });
}
