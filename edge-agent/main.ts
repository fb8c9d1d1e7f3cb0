// `npm run agent -- --enroll-token TOKEN [--server URL] [--mqtt URL] [--data-dir DIR]` (the token only on the first start)
import { join } from 'node:path';
import { connect } from 'mqtt';
import { Agent } from './agent.ts';
import { AudioCache } from './cache.ts';
import { systemClock } from './clock.ts';
import { type AgentConfig, loadAgentConfig } from './config.ts';
import { createFfmpegPlayer, detectSink } from './player.ts';
import { Outbox, StateStore } from './store.ts';

const log = (level: string) => (msg: string, obj?: object) =>
  console.log(JSON.stringify({ level, time: new Date().toISOString(), msg, ...obj }));

async function main() {
  let config: AgentConfig;
  try {
    config = loadAgentConfig(process.argv.slice(2), process.env);
  } catch (err) {
    console.error(`loaphuong-agent: ${(err as Error).message}`);
    process.exit(2);
  }
  const sink = detectSink(config.alsaDevice);
  const agent = new Agent({
    enrollToken: config.enrollToken,
    serverUrl: config.serverUrl,
    clock: systemClock,
    fetch,
    store: new StateStore(config.dataDir),
    outbox: new Outbox(config.dataDir),
    cache: new AudioCache(join(config.dataDir, 'cache'), { fetch }),
    player: createFfmpegPlayer({ ffmpegPath: config.ffmpegPath, sink }),
    connectMqtt: (will, login) =>
      connect(config.mqttUrl, {
        clientId: login.clientId,
        username: login.username,
        password: login.password,
        protocolVersion: 4,
        clean: false,
        will: { topic: will.topic, payload: Buffer.from(will.payload), qos: 1, retain: true },
      }),
    log: { info: log('info'), warn: log('warn') },
  });
  agent.onEvent((e) => log('info')(`event ${e.type}`, e));
  await agent.start();
  log('info')('agent started', { ...agent.identity(), sink: sink.kind, server: config.serverUrl, mqtt: config.mqttUrl });
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
