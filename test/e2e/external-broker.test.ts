// The same path with Mosquitto instead of the embedded broker: nothing relies on aedes or MQTT 5.
import { once } from 'node:events';
import { join } from 'node:path';
import t from 'tap';
import { onlineAgent } from '../helpers/agent.ts';
import { makeTone } from '../helpers/audio.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { hasMosquitto, startMosquitto } from '../helpers/mosquitto.ts';
import { startTestServer, uploadApproved } from '../helpers/server.ts';

t.test(
  'schedule, airing, proof and a command all work through Mosquitto',
  { skip: hasMosquitto() ? false : 'mosquitto is not installed (apt-get install mosquitto; .ci/run installs it)' },
  async (t) => {
    const broker = await startMosquitto();
    t.teardown(() => broker.stop());
    const clock = new FakeClock(Date.now());
    const server = await startTestServer({ now: clock.date, env: { LP_MQTT_URL: broker.url } });
    t.teardown(() => server.stop());
    t.equal(server.mqttUrl, broker.url, 'no embedded broker');
    const health = (await (await fetch(`${server.url}/health`)).json()) as { broker: { ok: boolean; detail: string } };
    t.match(health.broker, { ok: true, detail: broker.url });

    const station = 'HN-00025';
    const gw = await onlineAgent(t, { station, server, mqttUrl: broker.url, clock });

    const { body: media } = await uploadApproved(server, makeTone(join(server.dataDir, 'mosq.mp3'), { seconds: 1 }));
    const startsAt = new Date(clock.now() + 120_000);
    const res = await fetch(`${server.url}/api/v1/schedules`, {
      method: 'POST',
      headers: { ...server.auth, 'content-type': 'application/json' },
      body: JSON.stringify({ mediaId: media.id, stations: [station], startsAt: startsAt.toISOString() }),
    });
    const occurrenceId = ((await res.json()) as { occurrences: { id: string }[] }).occurrences[0].id;
    await gw.waitFor('cached');
    const stored: string[] = [];
    server.reports.events.on('handled', (outcome: string, kind: string) => stored.push(`${outcome}:${kind}`));
    clock.advanceTo(startsAt.getTime());
    const done = await gw.waitFor('finished', (e) => e.occurrenceId === occurrenceId);
    t.equal(done.report.kind, 'playback.completed');
    while (!stored.includes('stored:playback.completed')) await once(server.reports.events, 'handled');
    const occ = (await (await fetch(`${server.url}/api/v1/occurrences/${occurrenceId}`, { headers: server.auth })).json()) as {
      status: string;
    };
    t.equal(occ.status, 'aired', 'the proof crossed Mosquitto and the server stored it');

    const cmd = await fetch(`${server.url}/api/v1/stations/${station}/commands`, {
      method: 'POST',
      headers: { ...server.auth, 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'volume', level: 30 }),
    });
    t.match(await cmd.json(), { ok: true, action: 'volume' });
  },
);
