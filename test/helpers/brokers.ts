// Real external brokers on free loopback ports, each a private instance in a temporary directory, started
// from Debian's packages: Mosquitto, RabbitMQ with its MQTT plugin and HTTP auth backend, NATS with MQTT.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { connectAsync } from 'mqtt';
import { freePort } from './pg-cluster.mjs';

export interface Broker {
  /** Where gateways reach it (no login). */
  url: string;
  /** The server's environment for this broker (LP_MQTT_URL, and for RabbitMQ its login and hooks). */
  env: Record<string, string>;
  /** Mosquitto only: read the password and ACL files again (SIGHUP). */
  reload(): void;
  /** The broker's process (its memory, for the benchmarks). */
  pid?: number;
  stop(): Promise<void>;
}

/** The secret a server's /broker/ hooks ask for (LP_BROKER_HOOK_SECRET) in the tests. */
export const HOOK_SECRET = 'a-hook-secret-of-at-least-24-chars';
/** The server's own login to a RabbitMQ broker (which asks the server's hooks for it too). */
export const SERVER_LOGIN = { username: 'loaphuong.server', password: 'a-long-broker-password-for-the-server' };

const MOSQUITTO = '/usr/sbin/mosquitto';
// The node itself, not /usr/sbin/rabbitmq-server (which, as root, switches to the rabbitmq user).
const RABBITMQ = '/usr/lib/rabbitmq/bin/rabbitmq-server';
const NATS = '/usr/sbin/nats-server';

/** As deploy/mosquitto/loaphuong.conf: the server's session must not drop a burst of acks and proofs. */
const QUEUE = 'max_queued_messages 100000';

export const hasMosquitto = () => spawnSync(MOSQUITTO, ['-h']).error === undefined;
export const hasRabbitMq = () => existsSync(RABBITMQ);
export const hasNats = () => spawnSync(NATS, ['--version']).error === undefined;

export const brokerMissing = (pkg: string) => `${pkg} is not installed (apt-get install ${pkg}; .ci/run installs it)`;

/** Starts a broker process and resolves once its log says `ready`; its log is drained afterwards. */
async function spawnBroker(command: string, args: string[], ready: RegExp, env?: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ? { ...process.env, ...env } : process.env });
  await new Promise<void>((resolve, reject) => {
    let log = '';
    const onData = (chunk: Buffer) => {
      log += chunk.toString();
      if (!ready.test(log)) return;
      for (const s of [child.stdout, child.stderr]) {
        s?.off('data', onData);
        s?.resume();
      }
      child.off('exit', onExit);
      resolve();
    };
    const onExit = (code: number | null) => reject(new Error(`${command} exited (${code}): ${log.slice(-4000)}`));
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
  return child;
}

const stopper = (child: ChildProcess) => async () => {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
};

/**
 * Mosquitto, anonymous by default; with `auth`, it reads the password and ACL files in `auth.dir` (which
 * must already hold `login`, used to probe readiness) and `reload()` makes it read them again (SIGHUP).
 */
export async function startMosquitto(
  opts: { auth?: { dir: string; login: { username: string; password: string } } } = {},
): Promise<Broker> {
  const port = await freePort();
  const conf = join(mkdtempSync(join(tmpdir(), 'lp-mosquitto-')), 'mosquitto.conf');
  const access = opts.auth
    ? `allow_anonymous false\npassword_file ${join(opts.auth.dir, 'passwd')}\nacl_file ${join(opts.auth.dir, 'acl')}\n`
    : 'allow_anonymous true\n';
  // Run as the test's own user (as root Mosquitto would switch to "mosquitto", who cannot read temp dirs).
  writeFileSync(
    conf,
    `listener ${port} 127.0.0.1\nuser ${userInfo().username}\n${access}persistence false\n${QUEUE}\nlog_dest stderr\nlog_type error\nlog_type information\n`,
  );
  // It says it is running once its listener is open.
  const child = await spawnBroker(MOSQUITTO, ['-c', conf], / running/);
  const url = `mqtt://127.0.0.1:${port}`;
  const probe = await connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000, ...opts.auth?.login });
  await probe.endAsync();
  return { url, env: { LP_MQTT_URL: url }, reload: () => child.kill('SIGHUP'), pid: child.pid, stop: stopper(child) };
}

/**
 * RabbitMQ 3.10 as a private node (own node name, Erlang distribution port, database and cookie) with the
 * MQTT plugin on a loopback port and no AMQP listener. Every CONNECT, vhost, resource and topic check goes
 * to loaphuong's hooks, through a front that reaches whichever of `servers` (their base URLs, which need not
 * be up yet) answers, as nginx does: there is no other user. Ready when the MQTT listener is started (about
 * 20 s here: the plugin first elects its client-id tracker).
 */
export async function startRabbitMq(opts: { servers: string[] }): Promise<Broker> {
  const front = await hookFront(opts.servers);
  const hooks = `${front.url}/broker/rabbitmq/${HOOK_SECRET}`;
  const dir = mkdtempSync(join(tmpdir(), 'lp-rabbitmq-'));
  const [port, dist] = [await freePort(), await freePort()];
  writeFileSync(
    join(dir, 'rabbitmq.conf'),
    [
      'listeners.tcp = none',
      `mqtt.listeners.tcp.default = 127.0.0.1:${port}`,
      'mqtt.allow_anonymous = false',
      'auth_backends.1 = http',
      'auth_http.http_method = get',
      ...['user', 'vhost', 'resource', 'topic'].map((p) => `auth_http.${p}_path = ${hooks}/${p}`),
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'enabled_plugins'), '[rabbitmq_mqtt,rabbitmq_auth_backend_http].\n');
  const child = await spawnBroker(RABBITMQ, [], /started MQTT TCP listener/, {
    HOME: dir,
    RABBITMQ_NODENAME: `lp-${port}@localhost`,
    RABBITMQ_DIST_PORT: String(dist),
    RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_LOGS: '-',
  });
  const url = `mqtt://127.0.0.1:${port}`;
  const login = new URL(url);
  login.username = SERVER_LOGIN.username;
  login.password = SERVER_LOGIN.password;
  const stop = stopper(child);
  return {
    url,
    env: { LP_MQTT_URL: login.toString(), LP_MQTT_PUBLIC_URL: url, LP_BROKER_HOOK_SECRET: HOOK_SECRET },
    reload() {},
    async stop() {
      await stop();
      await front.stop();
    },
  };
}

/**
 * NATS 2.9 with its MQTT gateway (which keeps sessions and retained messages in JetStream, so JetStream is
 * on, stored in the temporary directory). NATS 2.9 has no external authentication hook: clients are
 * anonymous here (see deploy/README.md for what a deployment does instead).
 */
export async function startNats(): Promise<Broker> {
  const dir = mkdtempSync(join(tmpdir(), 'lp-nats-'));
  const [client, port] = [await freePort(), await freePort()];
  const conf = join(dir, 'nats.conf');
  writeFileSync(
    conf,
    `listen: 127.0.0.1:${client}\nserver_name: lp-test-${port}\njetstream { store_dir: "${join(dir, 'js')}" }\nmqtt { listen: 127.0.0.1:${port} }\n`,
  );
  const child = await spawnBroker(NATS, ['-c', conf], /Server is ready/);
  const url = `mqtt://127.0.0.1:${port}`;
  return { url, env: { LP_MQTT_URL: url }, reload() {}, stop: stopper(child) };
}

/**
 * What nginx is to a province's broker hooks: an HTTP front on a loopback port that forwards each GET (as
 * RabbitMQ calls its hooks) to the first of `servers` that answers, so the broker keeps its hooks when one
 * server stops.
 */
async function hookFront(servers: string[]): Promise<{ url: string; stop(): Promise<void> }> {
  const front = createServer(async (req, res) => {
    for (const target of servers) {
      try {
        const answer = await fetch(new URL(req.url ?? '/', target), { method: req.method ?? 'GET' });
        res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'text/plain' });
        res.end(Buffer.from(await answer.arrayBuffer()));
        return;
      } catch {
        // That server is down: the next one.
      }
    }
    res.writeHead(502).end();
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(front.address() as AddressInfo).port}`,
    stop: () => new Promise<void>((resolve) => front.close(() => resolve())),
  };
}
