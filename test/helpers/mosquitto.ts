// A real Mosquitto broker on a free loopback port, for the external-broker tests.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync } from 'mqtt';

const BINARY = '/usr/sbin/mosquitto';

export const hasMosquitto = () => spawnSync(BINARY, ['-h']).error === undefined;

async function freePort(): Promise<number> {
  const srv = createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as { port: number };
  srv.close();
  await once(srv, 'close');
  return port;
}

export async function startMosquitto(): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const conf = join(mkdtempSync(join(tmpdir(), 'lp-mosquitto-')), 'mosquitto.conf');
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\n`);
  const child: ChildProcess = spawn(BINARY, ['-c', conf], { stdio: 'ignore' });
  const url = `mqtt://127.0.0.1:${port}`;
  // Ready when it accepts a connection; MQTT.js retries every 100 ms until then.
  const probe = await connectAsync(url, { protocolVersion: 4, reconnectPeriod: 100, connectTimeout: 10_000 });
  await probe.endAsync();
  return {
    url,
    async stop() {
      child.kill('SIGTERM');
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}
