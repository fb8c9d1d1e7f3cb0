// [P-2.6] with an external Mosquitto: the server keeps Mosquitto's password and ACL files (LP_MOSQUITTO_DIR)
// in step with enrollments and revocations, and Mosquitto enforces them: a gateway logs in with the
// password enrollment gave it, publishes to its own channels only, receives its own commands only, and
// is locked out once revoked. Only the server account exists before the server starts (the operator's
// one bootstrap step, done here with Mosquitto's own mosquitto_passwd).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import t from 'tap';
import { commandTopic, grants, reportTopic } from '#protocol';
import { hasMosquitto, startMosquitto } from '../helpers/brokers.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { api, enrollDevice, startTestServer } from '../helpers/server.ts';

t.test(
  'Mosquitto admits enrolled gateways with the generated files and applies the ACL; revocation locks them out',
  { skip: hasMosquitto() ? false : 'mosquitto is not installed (apt-get install mosquitto; .ci/run installs it)' },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'lp-mosquitto-files-'));
    const serverLogin = { username: 'loaphuong.server', password: 'a-long-broker-password-for-the-server' };
    execFileSync('mosquitto_passwd', ['-c', '-b', join(dir, 'passwd'), serverLogin.username, serverLogin.password]);
    const bootstrap = grants({ role: 'server' });
    writeFileSync(
      join(dir, 'acl'),
      [
        `user ${serverLogin.username}`,
        ...bootstrap.publish.map((x) => `topic write ${x}`),
        ...bootstrap.subscribe.map((x) => `topic read ${x}`),
      ].join('\n'),
    );
    const broker = await startMosquitto({ auth: { dir, login: serverLogin } });
    t.teardown(() => broker.stop());
    const url = new URL(broker.url);
    url.username = serverLogin.username;
    url.password = serverLogin.password;
    const clock = new FakeClock(Date.now());
    const server = await startTestServer({ now: clock.date, env: { LP_MQTT_URL: url.toString(), LP_MOSQUITTO_DIR: dir } });
    t.teardown(() => server.stop());

    const a = await enrollDevice(server, 'HN-00028');
    const b = await enrollDevice(server, 'HN-00031');
    t.equal(a.url, broker.url, "the broker's address, without the server's own login");
    // Enrollment answered after the files were written: both gateways are in them already.
    const passwd = readFileSync(join(dir, 'passwd'), 'utf8');
    t.match(passwd, new RegExp(`^${a.device}:\\$7\\$101\\$`, 'm'), 'a Mosquitto PBKDF2 hash, not the secret');
    t.notMatch(passwd, a.password);
    t.equal(statSync(join(dir, 'passwd')).mode & 0o777, 0o640);
    const acl = readFileSync(join(dir, 'acl'), 'utf8');
    t.match(acl, `user ${a.device}\ntopic write lp/v1/dev/${a.device}/ack`);
    t.match(acl, `topic write ${reportTopic(a.device)}`);
    t.match(acl, `topic read lp/v1/grp/00028/cmd`, "its commune's group channel");
    broker.reload();

    /** Connects as a gateway; Mosquitto reloads on SIGHUP at its next loop turn, so a refusal is retried until then. */
    const admitted = async (login: { device: string; password: string }): Promise<MqttClient> => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await connectAsync(broker.url, {
            clientId: login.device,
            username: login.device,
            password: login.password,
            reconnectPeriod: 0,
          });
        } catch (err) {
          if (attempt === 50) throw err;
        }
      }
    };
    const gwA = await admitted(a);
    t.teardown(() => gwA.endAsync(true));
    await t.rejects(
      connectAsync(broker.url, { clientId: a.device, username: a.device, password: 'not-the-password', reconnectPeriod: 0 }),
      /Not authorized|Bad username/,
      'a wrong password is refused',
    );

    // Publishing: to B's report topic is dropped by Mosquitto; to its own arrives (one handled message, from A).
    const handled: string[] = [];
    const seen = new Promise<void>((resolve) =>
      server.reports.events.on('handled', (outcome: string) => {
        handled.push(outcome);
        resolve();
      }),
    );
    await gwA.publishAsync(reportTopic(b.device), 'forged', { qos: 1 });
    await gwA.publishAsync(reportTopic(a.device), 'not a proof', { qos: 1 });
    await seen;
    await server.reports.drain();
    t.same(handled, ['rejected'], "only its own topic reached the server (and that garbage was refused); B's topic was never delivered");

    // Receiving: A subscribes to B's commands too, but Mosquitto delivers it its own only.
    const received: string[] = [];
    gwA.on('message', (topic) => received.push(topic));
    await gwA.subscribeAsync([commandTopic(b.device), commandTopic(a.device)], { qos: 1 });
    // The server account publishes to B's command topic, then to A's (in that order, on one connection).
    const delivered = new Promise((resolve) => gwA.once('message', resolve));
    const serverSide = await connectAsync(broker.url, { ...serverLogin, clientId: 'loaphuong-test-publisher', reconnectPeriod: 0 });
    await serverSide.publishAsync(commandTopic(b.device), 'for B', { qos: 1 });
    await serverSide.publishAsync(commandTopic(a.device), 'for A', { qos: 1 });
    await serverSide.endAsync();
    await delivered;
    t.same(received, [commandTopic(a.device)], 'A received its own command only');

    // Revocation: rewritten files without A; once Mosquitto has reloaded (a newly enrolled C is admitted), A is refused.
    t.equal((await api(server, 'POST', `/devices/${a.device}/revoke`)).status, 204);
    t.notMatch(readFileSync(join(dir, 'passwd'), 'utf8'), `${a.device}:`);
    const c = await enrollDevice(server, 'HN-00034');
    broker.reload();
    const gwC = await admitted(c);
    await gwC.endAsync();
    await t.rejects(
      connectAsync(broker.url, { clientId: a.device, username: a.device, password: a.password, reconnectPeriod: 0 }),
      /Not authorized|Bad username/,
      'the revoked gateway is refused',
    );
  },
);
