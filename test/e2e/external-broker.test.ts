// The whole path with a real external broker instead of the embedded one (nothing relies on aedes or MQTT
// 5): enrollment, a manifest and its ack, a scheduled airing and its proof, a command and its reply, on
// Mosquitto, on RabbitMQ's MQTT plugin (every login and topic decided by loaphuong's HTTP hooks) and on NATS
// with MQTT. Each broker is started by the test from Debian's package, or the case is skipped saying so.
import { once } from 'node:events';
import { join } from 'node:path';
import t from 'tap';
import { onlineAgent } from '../helpers/agent.ts';
import { makeTone } from '../helpers/audio.ts';
import {
  type Broker,
  brokerMissing,
  hasMosquitto,
  hasNats,
  hasRabbitMq,
  startMosquitto,
  startNats,
  startRabbitMq,
} from '../helpers/brokers.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { freePort } from '../helpers/pg-cluster.mjs';
import { api, startTestServer, uploadApproved } from '../helpers/server.ts';

const HOOK_SECRET = 'a-hook-secret-of-at-least-24-chars';
const SERVER_LOGIN = { username: 'loaphuong.server', password: 'a-long-broker-password-for-the-server' };

interface Setup {
  broker: Broker;
  /** The server's environment for this broker. */
  env: Record<string, string>;
}

const cases: { name: string; missing: string | false; setup(): Promise<Setup> }[] = [
  {
    name: 'Mosquitto',
    missing: !hasMosquitto() && brokerMissing('mosquitto'),
    async setup() {
      const broker = await startMosquitto();
      return { broker, env: { LP_MQTT_URL: broker.url } };
    },
  },
  {
    name: 'RabbitMQ (MQTT plugin, HTTP auth backend)',
    missing: !hasRabbitMq() && brokerMissing('rabbitmq-server'),
    async setup() {
      // RabbitMQ asks the server's hooks for every login and topic, so the server's port is chosen first.
      const port = await freePort();
      const broker = await startRabbitMq({ hooks: `http://127.0.0.1:${port}/broker/rabbitmq/${HOOK_SECRET}` });
      const url = new URL(broker.url);
      url.username = SERVER_LOGIN.username;
      url.password = SERVER_LOGIN.password;
      return {
        broker,
        env: {
          PORT: String(port),
          LP_MQTT_URL: url.toString(),
          LP_BROKER_HOOK_SECRET: HOOK_SECRET,
          LP_MQTT_PUBLIC_URL: broker.url,
        },
      };
    },
  },
  {
    name: 'NATS with MQTT',
    missing: !hasNats() && brokerMissing('nats-server'),
    async setup() {
      const broker = await startNats();
      return { broker, env: { LP_MQTT_URL: broker.url } };
    },
  },
];

for (const c of cases)
  t.test(`${c.name}: enrollment, manifest and ack, airing and proof, command and reply`, { skip: c.missing }, async (t) => {
    const { broker, env } = await c.setup();
    t.teardown(() => broker.stop());
    const clock = new FakeClock(Date.now());
    const server = await startTestServer({ now: clock.date, env });
    t.teardown(() => server.stop());
    t.equal(server.mqttUrl, broker.url, 'no embedded broker');
    const health = (await (await fetch(`${server.url}/health`)).json()) as { broker: { ok: boolean } };
    t.equal(health.broker.ok, true, 'the server is connected to the broker');
    t.notMatch(JSON.stringify(health), SERVER_LOGIN.password, "the public health check never shows the server's broker login");

    // Enrollment hands the gateway the broker's address (never the server's login) and its own; it logs in.
    const station = 'HN-00025';
    const acked = once(server.dispatch.events, 'ack');
    const gw = await onlineAgent(t, { station, server, mqttUrl: broker.url, clock });
    await acked;
    const delivery = await api(server, 'GET', `/deliveries?station=${station}`);
    t.match(delivery.body, { byStatus: { delivered: 1 } }, "the gateway's ack of its first plan crossed the broker");

    const { body: media } = await uploadApproved(server, makeTone(join(server.dataDir, 'broker.mp3'), { seconds: 1 }));
    const startsAt = new Date(clock.now() + 120_000);
    const scheduled = await api(server, 'POST', '/schedules', { mediaId: media.id, stations: [station], startsAt: startsAt.toISOString() });
    const occurrenceId = (scheduled.body as { occurrences: { id: string }[] }).occurrences[0]?.id;
    await gw.waitFor('cached');
    const stored: string[] = [];
    server.reports.events.on('handled', (outcome: string, kind: string) => stored.push(`${outcome}:${kind}`));
    clock.advanceTo(startsAt.getTime());
    const done = await gw.waitFor('finished', (e) => e.occurrenceId === occurrenceId);
    t.equal(done.report.kind, 'playback.completed');
    while (!stored.includes('stored:playback.completed')) await once(server.reports.events, 'handled');
    const occ = await api(server, 'GET', `/occurrences/${occurrenceId}`);
    t.equal(occ.body.status, 'aired', 'the proof crossed the broker and the server stored it');

    const cmd = await api(server, 'POST', `/stations/${station}/commands`, { action: 'volume', level: 30 });
    t.match(cmd.body, { ok: true, action: 'volume' }, 'the command reached the gateway and its reply the server');
  });
