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
  SERVER_LOGIN,
  startMosquitto,
  startNats,
  startRabbitMq,
} from '../helpers/brokers.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { freePort } from '../helpers/pg-cluster.mjs';
import { api, startTestServer, uploadApproved } from '../helpers/server.ts';

// Each case starts its broker for a server on `port` (RabbitMQ asks that server's hooks for every login).
const cases: { name: string; missing: string | false; start(port: number): Promise<Broker> }[] = [
  { name: 'Mosquitto', missing: !hasMosquitto() && brokerMissing('mosquitto'), start: () => startMosquitto() },
  {
    name: 'RabbitMQ (MQTT plugin, HTTP auth backend)',
    missing: !hasRabbitMq() && brokerMissing('rabbitmq-server'),
    start: (port) => startRabbitMq({ servers: [`http://127.0.0.1:${port}`] }),
  },
  { name: 'NATS with MQTT', missing: !hasNats() && brokerMissing('nats-server'), start: () => startNats() },
];

for (const c of cases)
  t.test(`${c.name}: enrollment, manifest and ack, airing and proof, command and reply`, { skip: c.missing }, async (t) => {
    const port = await freePort();
    const broker = await c.start(port);
    t.teardown(() => broker.stop());
    const clock = new FakeClock(Date.now());
    const server = await startTestServer({ now: clock.date, env: { ...broker.env, PORT: String(port) } });
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
