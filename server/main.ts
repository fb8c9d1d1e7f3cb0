// `npm start`: the whole system on embedded defaults.
import { type Config, ConfigError, loadConfig } from './config.ts';
import { startServer } from './server.ts';

async function main() {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`loaphuong: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const server = await startServer(config);
  const lines = [
    '',
    `  loaphuong is running`,
    `  Console:  ${config.publicUrl}/`,
    `  API docs: ${config.publicUrl}/docs`,
    `  MQTT:     ${server.mqttUrl}  (WebSocket: ${config.publicUrl.replace(/^http/, 'ws')}${config.mqttWsPath})`,
  ];
  if (server.seed.seeded) {
    lines.push(
      config.seed === 'hanoi-2024'
        ? `  Seeded ${server.seed.units} units and ${server.seed.stations} stations (Hanoi, 2024 map)`
        : `  Seeded Hanoi on the 2025 map (1 + 126 units, the 2024 tree as history) and ${server.seed.stations} stations`,
    );
  }
  if (server.seed.admin) {
    lines.push(
      `  First administrator: ${server.seed.admin.username}; password in ${server.seed.admin.passwordFile}`,
      '  (readable by this user only; sign in, change it, then delete the file)',
    );
  }
  console.log(`${lines.join('\n')}\n`);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`loaphuong: ${signal} received, shutting down`);
    const timer = setTimeout(() => process.exit(1), 15_000);
    timer.unref();
    await server.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

main().catch((err) => {
  console.error('loaphuong: failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
