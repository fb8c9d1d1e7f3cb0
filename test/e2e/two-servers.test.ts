// Two server processes on one PostgreSQL database behind one Mosquitto or RabbitMQ, as a province runs them
// (deploy/README.md): one leads (recurring work and the ingest of what gateways send), both serve the API and
// publish. A plan made through the follower reaches the gateway; its proofs are stored once, by the leader;
// both extending the recurring schedules at the same moment make no airing twice; when the leader stops, the
// other takes over and stores the next proofs.
import { once } from 'node:events';
import { join } from 'node:path';
import t from 'tap';
import type { RunningServer } from '../../server/server.ts';
import { onlineAgent } from '../helpers/agent.ts';
import { makeTone } from '../helpers/audio.ts';
import { type Broker, brokerMissing, HOOK_SECRET, hasMosquitto, hasRabbitMq, startMosquitto, startRabbitMq } from '../helpers/brokers.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { freePort } from '../helpers/pg-cluster.mjs';
import { adminLogin, api, enrollDevice, onPostgres, startTestServer, uploadApproved } from '../helpers/server.ts';

const DAY = 86_400_000;

/** Resolves when the server's leadership turns to `leader`. */
const leads = (s: RunningServer) =>
  s.leadership.leader ? Promise.resolve() : new Promise<void>((resolve) => s.leadership.onChange((l) => l && resolve()));

/** Counts the proofs a server stored. */
function storedBy(s: RunningServer): string[] {
  const stored: string[] = [];
  s.reports.events.on('handled', (outcome: string, kind: string) => outcome === 'stored' && stored.push(kind));
  return stored;
}

/** A broker for two servers on fixed ports (RabbitMQ asks whichever of them is up for every login). */
const brokers: { name: string; missing: string | false; start(ports: number[]): Promise<Broker> }[] = [
  { name: 'Mosquitto', missing: !hasMosquitto() && brokerMissing('mosquitto'), start: () => startMosquitto() },
  {
    name: 'RabbitMQ',
    missing: !hasRabbitMq() && brokerMissing('rabbitmq-server'),
    start: (ports) => startRabbitMq({ servers: ports.map((p) => `http://127.0.0.1:${p}`) }),
  },
];

for (const via of brokers)
  t.test(
    `two servers, one PostgreSQL, one ${via.name}: one leads, both serve, nothing done twice, the other takes over`,
    {
      skip: !onPostgres ? 'several server processes share a PostgreSQL database: this runs in the PostgreSQL pass' : via.missing,
    },
    async (t) => {
      const ports = [await freePort(), await freePort()];
      const broker = await via.start(ports);
      t.teardown(() => broker.stop());
      const clock = new FakeClock(Date.now());
      const a = await startTestServer({ now: clock.date, env: { ...broker.env, PORT: String(ports[0]), LP_INSTANCE: 'a' } });
      let aStopped = false;
      t.teardown(() => (aStopped ? undefined : a.stop()));
      const b = await startTestServer({
        now: clock.date,
        env: { ...broker.env, PORT: String(ports[1]), LP_INSTANCE: 'b', LP_DATA_DIR: a.dataDir },
      });
      t.teardown(() => b.stop());
      t.same(b.database, a.database, 'one database');
      t.ok(a.leadership.leader, 'the first to start leads');
      t.notOk(b.leadership.leader, 'the second follows');
      const byA = storedBy(a);
      const byB = storedBy(b);

      const station = 'HN-00025';
      const gw = await onlineAgent(t, { station, server: b, mqttUrl: broker.url, clock });
      const { body: media } = await uploadApproved(b, makeTone(join(a.dataDir, 'two.mp3'), { seconds: 1 }));
      let version = (await a.db.station.findUniqueOrThrow({ where: { code: station } })).manifestVersion;
      const play = async (via: RunningServer & { url: string; token: string; auth: { authorization: string } }, at: number) => {
        const res = await api(via, 'POST', '/schedules', { mediaId: media.id, stations: [station], startsAt: new Date(at).toISOString() });
        t.equal(res.status, 201, `scheduled through the follower ${JSON.stringify(res.body.error ?? '')}`);
        const id = (res.body.occurrences as { id: string }[])[0]?.id as string;
        // The plan that holds it (the agent's journal names the airing once it is in its plan).
        await gw.waitFor('manifest', (e) => e.version > version);
        version = (await via.db.station.findUniqueOrThrow({ where: { code: station } })).manifestVersion;
        await gw.waitFor('cached', (e) => e.sha256 === media.sha256);
        clock.advanceTo(at);
        const done = await gw.waitFor('finished', (e) => e.occurrenceId === id);
        t.equal(done.report.kind, 'playback.completed');
        return id;
      };

      const first = await play(b, clock.now() + 120_000);
      while (!byA.includes('playback.completed')) await once(a.reports.events, 'handled');
      t.same(byB, [], 'the follower stored nothing: the leader ingests');
      t.equal(await a.db.playbackReport.count({ where: { occurrenceId: first } }), 2, 'a start and an end proof, each once');
      t.equal((await a.db.occurrence.findUniqueOrThrow({ where: { id: first } })).status, 'aired');

      // Both extend the recurring schedules over a moved horizon at the same moment: each airing once.
      const daily = await api(b, 'POST', '/schedules', {
        mediaId: media.id,
        stations: ['HN-00001', 'HN-00004'],
        startsAt: new Date(clock.now() + DAY).toISOString(),
        rrule: 'FREQ=DAILY',
      });
      t.equal(daily.status, 201, `a daily schedule ${JSON.stringify(daily.body.error ?? '')}`);
      const before = await a.db.occurrence.count({ where: { scheduleId: daily.body.id as string } });
      clock.advance(3 * DAY);
      const [fromA, fromB] = await Promise.all([a.schedules.extend(), b.schedules.extend()]);
      const rows = await a.db.occurrence.findMany({
        where: { scheduleId: daily.body.id as string },
        select: { stationId: true, startsAt: true },
      });
      const keys = rows.map((r) => `${r.stationId} ${r.startsAt.toISOString()}`);
      t.equal(new Set(keys).size, keys.length, `no airing twice (${keys.length} airings)`);
      t.equal(rows.length - before, fromA.occurrences + fromB.occurrences, 'what each reported making is there');
      t.equal(fromA.occurrences + fromB.occurrences, 6, 'three more days at two stations, made by one of them');

      // The leader stops: the follower takes the lock and the next proofs (a new session: three days went by).
      b.token = await adminLogin(b.url);
      b.auth.authorization = `Bearer ${b.token}`;
      await a.stop();
      aStopped = true;
      await leads(b);
      t.pass('the follower leads once the leader is gone');
      const second = await play(b, clock.now() + 120_000);
      while (!byB.includes('playback.completed')) await once(b.reports.events, 'handled');
      t.equal(await b.db.playbackReport.count({ where: { occurrenceId: second } }), 2, 'stored once, by the new leader');
    },
  );

t.test(
  "a revocation through one server locks the device out of the other's broker hooks",
  { skip: !onPostgres && 'several server processes share a PostgreSQL database: this runs in the PostgreSQL pass' },
  async (t) => {
    const clock = new FakeClock(Date.now());
    const a = await startTestServer({ now: clock.date, env: { LP_BROKER_HOOK_SECRET: HOOK_SECRET, LP_INSTANCE: 'a' } });
    t.teardown(() => a.stop());
    const b = await startTestServer({
      now: clock.date,
      env: { LP_BROKER_HOOK_SECRET: HOOK_SECRET, LP_INSTANCE: 'b', LP_DATA_DIR: a.dataDir },
    });
    t.teardown(() => b.stop());
    // RabbitMQ's login check, as it asks whichever server the proxy picks.
    const login = async (s: { url: string }, l: { device: string; password: string }) =>
      (
        await fetch(`${s.url}/broker/rabbitmq/${HOOK_SECRET}/user?${new URLSearchParams({ username: l.device, password: l.password })}`)
      ).text();
    const gw = await enrollDevice(a, 'HN-00028');
    t.equal(await login(b, gw), 'allow', 'enrolled through one server, admitted by the other');
    t.equal(await login(b, { ...gw, password: 'not-its-password' }), 'deny');
    // Enrolled again through the first (a replaced gateway): the other admits the new password at once.
    const token = (await api(a, 'POST', `/devices/${gw.device}/enrollment-token`, {})).body.enrollToken as string;
    const again = await enrollDevice(a, 'HN-00028', token);
    t.equal(again.device, gw.device);
    t.equal(await login(b, again), 'allow', 'the new password, although the other server had the old one in memory');
    t.equal((await api(a, 'POST', `/devices/${gw.device}/revoke`, {})).status, 204);
    t.equal(await login(a, again), 'deny', 'the server that revoked refuses at once');
    clock.advance(31_000);
    t.equal(await login(b, again), 'deny', 'the other refuses once its memory of the login has lapsed (30 s)');
  },
);
