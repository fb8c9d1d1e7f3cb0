// reconnect_all_ms_N: N simulated gateways (default the country's 10,542; LP_BENCH_RECONNECT) connected to the
// server program in its own process (embedded broker, SQLite); the server is killed (kill -9) and started
// again; from the moment it is ready until every gateway has its MQTT session back, each reconnecting
// with the agent's backoff (1 s doubling to 300 s, jittered). The gateways run in this process, apart from
// the server's. restart_ms beside it: from the kill until the new server answered ready.
import { reconnectStorm } from '../test/helpers/faults.ts';
import { figure } from './report.ts';

export async function run(): Promise<void> {
  const gateways = Number(process.env.LP_BENCH_RECONNECT ?? 10_542);
  const storm = await reconnectStorm({ gateways });
  figure('reconnect', `reconnect_all_ms_${gateways}`, storm.reconnectAllMs, 'ms', { gateways, restart_ms: Math.round(storm.restartMs) });
}
