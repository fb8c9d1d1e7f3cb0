// `npm run agent -- --enroll-token-file FILE|- [--server URL] [--mqtt URL] [--data-dir DIR] [--config FILE]` (the token only on the first start)
import { systemClock } from './clock.ts';
import { AGENT_USAGE, type AgentConfig, loadAgentConfig } from './config.ts';
import { resolveZones } from './player.ts';
import { createGatewayAgent } from './wire.ts';

const log = (level: string) => (msg: string, obj?: object) =>
  console.log(JSON.stringify({ level, time: new Date().toISOString(), msg, ...obj }));

async function main() {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    process.stdout.write(AGENT_USAGE);
    return;
  }
  let config: AgentConfig;
  try {
    config = loadAgentConfig(process.argv.slice(2), process.env);
  } catch (err) {
    console.error(`loaphuong-agent: ${(err as Error).message}\n(npm run agent -- --help lists the options)`);
    process.exit(2);
  }
  const zones = resolveZones(config.zones, config.alsaDevice);
  const agent = createGatewayAgent({
    enrollToken: config.enrollToken,
    dataDir: config.dataDir,
    serverUrl: config.serverUrl,
    mqttUrl: config.mqttUrl,
    clock: systemClock,
    zones,
    ffmpegPath: config.ffmpegPath,
    resetState: config.resetState,
    options: {
      prefetchHorizonMs: config.prefetchHorizonHours * 3600_000,
      cacheBudgetBytes: config.cacheBudgetMB * 1024 * 1024,
      heartbeatMs: config.heartbeatSeconds * 1000,
      fadeMs: config.fadeMs,
    },
    log: { info: log('info'), warn: log('warn') },
  });
  agent.onEvent((e) => log('info')(`event ${e.type}`, e));
  await agent.start();
  log('info')('agent started', {
    ...agent.identity(),
    zones: Object.fromEntries(Object.entries(zones).map(([z, s]) => [z, s.kind === 'alsa' ? s.device : 'null'])),
    server: config.serverUrl,
    mqtt: config.mqttUrl ?? 'as given at enrollment',
  });
  const shutdown = async () => {
    // Never outlive a stop request: whatever hangs, the unit manager gets its process back.
    setTimeout(() => process.exit(1), 10_000).unref();
    await agent.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown());
  process.on('SIGTERM', () => void shutdown());
}

main().catch((err) => {
  console.error('loaphuong-agent: failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
