// A real Mosquitto broker on a free loopback port, for the external-broker tests.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { connectAsync } from 'mqtt';
import { freePort } from './pg-cluster.mjs';

const BINARY = '/usr/sbin/mosquitto';

export const hasMosquitto = () => spawnSync(BINARY, ['-h']).error === undefined;

/**
 * Anonymous by default; with `auth`, Mosquitto reads the password and ACL files in `auth.dir` (which
 * must already hold `login`, used to probe readiness) and `reload()` makes it read them again (SIGHUP).
 */
export async function startMosquitto(
  opts: { auth?: { dir: string; login: { username: string; password: string } } } = {},
): Promise<{ url: string; reload(): void; stop(): Promise<void> }> {
  const port = await freePort();
  const conf = join(mkdtempSync(join(tmpdir(), 'lp-mosquitto-')), 'mosquitto.conf');
  const access = opts.auth
    ? `allow_anonymous false\npassword_file ${join(opts.auth.dir, 'passwd')}\nacl_file ${join(opts.auth.dir, 'acl')}\n`
    : 'allow_anonymous true\n';
  // Run as the test's own user (as root Mosquitto would switch to "mosquitto", who cannot read temp dirs).
  writeFileSync(
    conf,
    `listener ${port} 127.0.0.1\nuser ${userInfo().username}\n${access}persistence false\nlog_dest stderr\nlog_type error\nlog_type information\n`,
  );
  const child: ChildProcess = spawn(BINARY, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  const url = `mqtt://127.0.0.1:${port}`;
  // Ready when it says it is running (it has opened its listener by then); its log is drained afterwards.
  await new Promise<void>((resolve, reject) => {
    let log = '';
    const onData = (chunk: Buffer) => {
      log += chunk.toString();
      if (!/ running/.test(log)) return;
      child.stderr?.off('data', onData);
      child.stderr?.resume();
      resolve();
    };
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`mosquitto exited (${code}): ${log}`)));
  });
  const probe = await connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000, ...opts.auth?.login });
  await probe.endAsync();
  return {
    url,
    reload() {
      child.kill('SIGHUP');
    },
    async stop() {
      child.kill('SIGTERM');
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}
