// No proof lost: faults caused to real processes, and what was lost counted (the fast versions of
// `npm run bench -- faults`). The server program killed with SIGKILL in a burst of proofs and restarted,
// later or at once; the disk filling up under the proof store; an agent and the server killed while their
// ffmpeg plays or encodes. Gateways are simulated (the real protocol: signed proofs kept until a storage
// receipt names them) where many are needed, the real agent where its player matters.
import t from 'tap';
import {
  orphanEncodersAfterServerKill,
  orphanPlayersAfterAgentKill,
  orphansOfKilledRunner,
  proofsAcrossFullDisk,
  proofsAcrossServerKill,
  smallDisk,
} from '../helpers/faults.ts';
import { onPostgres, startTestServer } from '../helpers/server.ts';

const GATEWAYS = 12;

t.test(
  'kill -9 of the server in a burst of proofs, restart a second later: nothing lost, nothing twice, nothing falsely missed',
  async (t) => {
    const f = await proofsAcrossServerKill({ gateways: GATEWAYS, restartDelayMs: 1000 });
    t.equal(f.sent, 2 * GATEWAYS, 'each gateway sent a start and an end proof');
    t.equal(f.lost, 0, 'no proof lost');
    t.equal(f.stored, f.sent);
    t.equal(f.duplicates, 0, 'each stored once');
    t.equal(f.falseMissed, 0, 'every airing that played in full is aired');
    t.equal(f.falseAlerts, 0, 'no false alert');
  },
);

t.test('kill -9 and an immediate restart, the gateways already coming back: the restart window loses nothing', async (t) => {
  const f = await proofsAcrossServerKill({ gateways: GATEWAYS, restartDelayMs: 0 });
  t.equal(f.lost, 0, 'no proof lost');
  t.equal(f.stored, 2 * GATEWAYS);
  t.equal(f.duplicates, 0);
  t.equal(f.falseMissed, 0);
});

// On PostgreSQL the proof store's disk is the database server's, shared by the whole suite: not filled here.
const disk = onPostgres ? undefined : await smallDisk(96);
t.test(
  'a full disk under the proof store: no receipt, /health says so, and the gateways get through once there is space',
  {
    skip: onPostgres
      ? "the SQLite store's disk only: PostgreSQL's is its server's"
      : disk
        ? false
        : 'mounting a small tmpfs needs root: the disk-full fault is not run on this machine',
  },
  async (t) => {
    if (!disk) return;
    t.teardown(disk.unmount);
    const f = await proofsAcrossFullDisk({ gateways: 8, disk, startServer: (dataDir) => startTestServer({ dataDir }) });
    t.ok(f.storeFailures && f.storeFailures >= 8, `the store refused ${f.storeFailures} messages while full`);
    t.same(f.healthWhileFull, { status: 503, proofsOk: false }, '/health is degraded while proofs cannot be stored');
    t.same(f.healthAfter, { status: 200, proofsOk: true }, 'and healthy again after');
    t.equal(f.lost, 0, 'no proof lost');
    t.equal(f.stored, 16);
    t.equal(f.duplicates, 0);
    t.equal(f.falseMissed, 0);
  },
);

t.test('kill -9 of an agent mid-play leaves no player running', async (t) => {
  const server = await startTestServer();
  t.teardown(() => server.stop());
  const r = await orphanPlayersAfterAgentKill(server);
  t.ok(r.playersBefore >= 1, `${r.playersBefore} player process(es) while it aired`);
  t.equal(r.orphans, 0, 'none left once the agent died');
});

t.test('the server process runner: kill -9 of its process leaves no ffmpeg running, even one silent on its pipes', async (t) => {
  const r = await orphansOfKilledRunner();
  t.equal(r.before, 1, 'ffmpeg was running');
  t.equal(r.orphans, 0, 'and is gone once its parent died');
});

t.test('kill -9 of the server mid-encode leaves no encoder running', async (t) => {
  const r = await orphanEncodersAfterServerKill();
  t.ok(r.encodersBefore >= 1, `${r.encodersBefore} encoder process(es) during the upload`);
  t.equal(r.orphans, 0, 'none left once the server died');
});
