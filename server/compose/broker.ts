// The broker side: who may use the broker (BrokerAccess, and an external Mosquitto's password and ACL
// files kept in step), the embedded aedes broker when no external one is configured, and the server's
// own link connected to it. Gateways can connect only after open(): every handler is registered first.
import { randomBytes } from 'node:crypto';
import type { Server as HttpServer } from 'node:http';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { Metrics } from '../metrics.ts';
import { BrokerAccess } from '../mqtt/access.ts';
import { type EmbeddedBroker, startEmbeddedBroker } from '../mqtt/broker.ts';
import type { MqttLink } from '../mqtt/link.ts';
import type { Domain, Endpoints } from './domain.ts';
import type { Parts } from './parts.ts';
import type { Storage } from './storage.ts';

/** The server's own MQTT user on the embedded broker; no device code can take it (codes have no dot). */
export const SERVER_MQTT_USER = 'loaphuong.server';

export type Broker = Awaited<ReturnType<typeof startBroker>>;

export async function startBroker(c: {
  config: Config;
  now: () => Date;
  log: Logger;
  domain: Domain;
  link: MqttLink;
  metrics: Metrics;
  endpoints: Endpoints;
  storage: Storage;
  parts: Parts;
}) {
  const { config, log, link, parts } = c;
  const { db } = c.storage;
  const { devices, units, events } = c.domain;
  // The server's own login: to the embedded broker a fresh secret each start, never stored; to an external
  // broker the credentials in LP_MQTT_URL.
  const external = config.mqttUrl ? new URL(config.mqttUrl) : undefined;
  const login = external
    ? external.username
      ? { username: decodeURIComponent(external.username), password: decodeURIComponent(external.password) }
      : undefined
    : { username: SERVER_MQTT_USER, password: randomBytes(32).toString('base64url') };
  const access = new BrokerAccess({ db, devices, units, now: c.now, anonymous: config.mqttAnonymous, server: login });
  const mosquitto = mosquittoFiles(access, config.mosquittoDir, log);
  await mosquitto();

  let broker: EmbeddedBroker | undefined;
  let linkUrl = config.mqttUrl as string;
  if (!external) {
    broker = await startEmbeddedBroker({
      host: config.mqttHost,
      port: config.mqttPort,
      wsPath: config.mqttWsPath,
      // [P-2.6] Who may do what follows from who logged in: the server, a device, or (when allowed) a read-only observer.
      authenticate: (clientId, username, password) => access.authenticate(clientId, username, password),
      maxPending: config.mqttPendingConnections,
      connectTimeoutMs: config.mqttConnectTimeoutMs,
      log,
    });
    const started = broker;
    parts.add('broker', () => started.stop());
    linkUrl = `mqtt://127.0.0.1:${started.internalPort}`;
    c.metrics.countMqttClientsWith(() => started.clients());
  }
  // Moved gateways' unit chains changed: the external broker's ACL is rewritten, and their sessions on the
  // embedded broker are closed so they log in again (at once) with the new group rights.
  events.on('stations-moved', async (ids) => {
    access.forget();
    await mosquitto();
    for (const code of await devices.codesAt(ids)) broker?.disconnect(code);
  });
  events.on('device-revoked', (code) => {
    access.forget(code);
    broker?.disconnect(code);
  });
  // A new enrollment issued a password: what the embedded broker knew of that login is stale.
  events.on('credentials-changed', () => {
    access.forget();
    return mosquitto();
  });

  // An external broker that asks the HTTP hooks (RabbitMQ, EMQX) checks the server's own login through
  // them: the link connects in open(), once the HTTP server listens. Otherwise it connects now, before any
  // gateway can reach the embedded broker's public listeners, so the server is subscribed first.
  const viaHooks = Boolean(external && config.brokerHookSecret);
  if (!viaHooks) await link.connect(linkUrl, broker ? login : {});
  // Stopped after the proof queue has drained and live broadcasts have ended, which publish through it.
  parts.add('mqtt link', () => link.stop());

  return {
    access,
    broker,
    /** The server's own login to the embedded broker, for tests that play a compromised broker path; never served. */
    brokerLogin: broker ? login : undefined,
    health: async () => ({ ok: link.connected(), detail: broker ? `embedded, ${broker.clients()} clients` : withoutLogin(config.mqttUrl) }),
    /** Where gateways reach the broker: the embedded broker's public port once open, else the external one. */
    url: () => (broker ? `mqtt://127.0.0.1:${broker.port}` : withoutLogin(config.mqttUrl)),
    /**
     * Once the HTTP server listens: connects the link to a broker that asks the hooks, and opens the
     * embedded broker's public listeners (TCP, and WebSocket on the HTTP server).
     */
    async open(httpServer: HttpServer): Promise<void> {
      if (viaHooks) await link.connect(linkUrl, {});
      if (!broker) return;
      const started = broker;
      await started.open(httpServer);
      // On shutdown the public listeners close first, so no new session starts while the rest stops.
      parts.add('mqtt listeners', () => started.closeListeners());
      c.endpoints.mqtt ||= `mqtt://127.0.0.1:${started.port}`;
    },
  };
}

/**
 * An external Mosquitto's password and ACL files follow enrollments, revocations and merges: written one
 * at a time; a change during a write schedules one more.
 */
function mosquittoFiles(access: BrokerAccess, dir: string | undefined, log: Logger): () => Promise<unknown> {
  let writing: Promise<unknown> = Promise.resolve();
  let again = false;
  return () => {
    if (!dir || again) return writing;
    again = true;
    writing = writing.then(async () => {
      again = false;
      const written = await access
        .writeMosquittoFiles(dir)
        .catch((err: Error) => log.error({ err: err.message }, 'mosquitto files not written'));
      if (written?.missing.length)
        log.warn({ devices: written.missing }, 'enrolled before Mosquitto hashes were kept: issue new enrollment tokens');
    });
    return writing;
  };
}

/** LP_MQTT_URL carries the server's own broker login: gateways and health checks see the address without it. */
export function withoutLogin(url: string | undefined): string {
  if (!url) return '';
  const u = new URL(url);
  u.username = '';
  u.password = '';
  return u.toString();
}
