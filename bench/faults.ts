// `npm run bench -- faults`: the fault run of issue #16 on real components (the server program with its
// embedded broker and SQLite, simulated gateways speaking the real protocol, a real agent and ffmpeg), one
// fault at a time, each counted against what the gateways sent. Every "lost" figure must be 0.
// - proofs_lost_server_kill: kill -9 of the server at the first storage receipt of a burst (every gateway
//   sends a start and an end proof for one airing), restart 1 s later; with duplicate_proofs and false_missed.
// - proofs_lost_restart_window: the same with an immediate restart, gateways already coming back.
// - proofs_lost_disk_full: the server's disk (a tmpfs) fills while proofs arrive, then frees (root only).
// - orphan_players_after_agent_kill, orphan_encoders_after_server_kill, orphan_ffmpeg_after_runner_kill.
// - reconnect_all_ms_N: from a restarted server being ready until all N gateways (agent backoff) are back.
import { rmSync } from 'node:fs';
import {
  orphanEncodersAfterServerKill,
  orphanPlayersAfterAgentKill,
  orphansOfKilledRunner,
  proofsAcrossFullDisk,
  proofsAcrossServerKill,
  reconnectStorm,
  smallDisk,
} from '../test/helpers/faults.ts';
import { startTestServer } from '../test/helpers/server.ts';
import { figure } from './report.ts';

const B = 'faults';

export async function run(): Promise<void> {
  const n = Number(process.env.LP_BENCH_FAULT_GATEWAYS ?? 200);
  const kill = await proofsAcrossServerKill({ gateways: n, restartDelayMs: 1000 });
  figure(B, 'proofs_lost_server_kill', kill.lost, 'proofs', { gateways: n, sent: kill.sent, stored: kill.stored });
  figure(B, 'duplicate_proofs', kill.duplicates, 'proofs', { gateways: n, scenario: 'server kill' });
  figure(B, 'false_missed', kill.falseMissed, 'airings', { gateways: n, scenario: 'server kill', falseAlerts: kill.falseAlerts });

  const window = await proofsAcrossServerKill({ gateways: n, restartDelayMs: 0 });
  figure(B, 'proofs_lost_restart_window', window.lost, 'proofs', { gateways: n, sent: window.sent, stored: window.stored });
  figure(B, 'duplicate_proofs', window.duplicates, 'proofs', { gateways: n, scenario: 'immediate restart' });
  figure(B, 'false_missed', window.falseMissed, 'airings', { gateways: n, scenario: 'immediate restart', falseAlerts: window.falseAlerts });

  const disk = await smallDisk(128);
  if (!disk) console.error('faults: proofs_lost_disk_full skipped: mounting a small tmpfs needs root');
  else {
    try {
      const gateways = Math.min(n, 100);
      const full = await proofsAcrossFullDisk({ gateways, disk, startServer: (dataDir) => startTestServer({ dataDir }) });
      figure(B, 'proofs_lost_disk_full', full.lost, 'proofs', {
        gateways,
        sent: full.sent,
        stored: full.stored,
        refusedWhileFull: full.storeFailures,
        healthWhileFull: full.healthWhileFull.status,
      });
      figure(B, 'duplicate_proofs', full.duplicates, 'proofs', { gateways, scenario: 'disk full' });
      figure(B, 'false_missed', full.falseMissed, 'airings', { gateways, scenario: 'disk full' });
    } finally {
      await disk.unmount();
    }
  }

  const server = await startTestServer();
  try {
    const players = await orphanPlayersAfterAgentKill(server);
    figure(B, 'orphan_players_after_agent_kill', players.orphans, 'processes', { playersBefore: players.playersBefore });
  } finally {
    await server.stop();
    rmSync(server.dataDir, { recursive: true, force: true });
  }
  const encoders = await orphanEncodersAfterServerKill();
  figure(B, 'orphan_encoders_after_server_kill', encoders.orphans, 'processes', { encodersBefore: encoders.encodersBefore });
  const runner = await orphansOfKilledRunner();
  figure(B, 'orphan_ffmpeg_after_runner_kill', runner.orphans, 'processes', { before: runner.before });

  for (const gateways of (process.env.LP_BENCH_STORM ?? '500,2000').split(',').map(Number)) {
    const storm = await reconnectStorm({ gateways });
    figure(B, `reconnect_all_ms_${gateways}`, storm.reconnectAllMs, 'ms', { restartMs: Math.round(storm.restartMs) });
  }
}
