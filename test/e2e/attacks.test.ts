// Issue #17's attacks on the embedded MQTT broker and the first start, against the real server program
// in a child process (so its memory is its own to measure): oversized packets before and after login,
// a crowd of connections that never log in, and the first administrator's password kept off stdout.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { connectAsync } from 'mqtt';
import t from 'tap';
import { bigPackets, mqttLength, silentMqtt } from '../helpers/attacks.ts';
import { rssMb } from '../helpers/proc.ts';
import { enrollDevice, TEST_ADMIN_PASSWORD } from '../helpers/server.ts';
import { serverProcess, until } from '../helpers/server-process.ts';

const server = await serverProcess({ env: { LP_MQTT_PENDING_CONNECTIONS: '40', LP_MQTT_CONNECT_TIMEOUT_MS: '1500' } });
t.teardown(() => server.stop());
const pid = server.child?.pid as number;

/** An MQTT 3.1.1 CONNECT packet with a username and password (§3.1). */
function connectPacket(clientId: string, username: string, password: string): Buffer {
  const str = (s: string) => {
    const b = Buffer.from(s, 'utf8');
    return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
  };
  const body = Buffer.concat([str('MQTT'), Buffer.from([4, 0xc2, 0, 60]), str(clientId), str(username), str(password)]);
  return Buffer.concat([Buffer.from([0x10]), mqttLength(body.length), body]);
}

const login = (gw: { device: string; password: string }) =>
  connectAsync(server.mqttUrl, { protocolVersion: 4, clientId: gw.device, username: gw.device, password: gw.password, reconnectPeriod: 0 });

t.test('the first administrator’s password goes to a 0600 file in the data directory, never to the output', async (t) => {
  const file = join(server.dataDir, 'first-admin-password.txt');
  t.equal(statSync(file).mode & 0o777, 0o600);
  t.equal(readFileSync(file, 'utf8'), `admin\n${TEST_ADMIN_PASSWORD}\n`);
  t.notOk(server.output().includes(TEST_ADMIN_PASSWORD), 'not printed');
  t.match(server.output(), /password in .*first-admin-password\.txt/, 'the path is');
});

t.test('a CONNECT declaring 255 MB, on 10 sockets, is cut at its header: the server holds no more memory', async (t) => {
  const before = rssMb(pid);
  const attack = await bigPackets(server.mqttUrl, {
    sockets: 10,
    declaredBytes: 255 * 1024 * 1024,
    sendBytes: 20 * 1024 * 1024,
    ms: 10_000,
  });
  const after = rssMb(pid);
  t.equal(attack.closed, 10, `all 10 closed (the attackers had queued ${attack.sentMb.toFixed(1)} MB by then)`);
  t.ok(after - before < 50, `server RSS ${before.toFixed(0)} → ${after.toFixed(0)} MB`);
  const gw = await enrollDevice(server, 'HN-00004');
  const client = await login(gw);
  t.ok(client.connected, 'a gateway still logs in');
  await client.endAsync();
});

t.test('after login, a PUBLISH declared over the protocol’s payload limit closes the session', async (t) => {
  const gw = await enrollDevice(server, 'HN-00006');
  const before = rssMb(pid);
  const attack = await bigPackets(server.mqttUrl, {
    sockets: 3,
    first: connectPacket(gw.device, gw.device, gw.password),
    header: 0x32, // PUBLISH, QoS 1
    declaredBytes: 100 * 1024 * 1024,
    sendBytes: 20 * 1024 * 1024,
    ms: 10_000,
  });
  t.equal(attack.closed, 3, 'each session closed');
  t.ok(rssMb(pid) - before < 50, `server RSS grew ${(rssMb(pid) - before).toFixed(1)} MB`);
  const client = await login(gw);
  await client.publishAsync(`lp/v1/dev/${gw.device}/state`, JSON.stringify({ station: 'HN-00006', online: true }), {
    qos: 1,
    retain: true,
  });
  t.pass('the same gateway then logs in and publishes a normal message');
  await client.endAsync();
});

t.test('connections that never log in: past the pending cap they are closed at once, the rest at the connect timeout', async (t) => {
  const crowd = await silentMqtt(server.mqttUrl, 60);
  t.teardown(crowd.stop);
  await until(crowd.onChange, () => crowd.open() <= 40, 'the connections past the cap of 40 to close', 5000);
  t.ok(crowd.open() <= 40, `${crowd.open()} of 60 pending`);
  await until(crowd.onChange, () => crowd.open() === 0, 'the connect timeout to close the rest', 10_000);
  t.equal(crowd.open(), 0, 'none left after the 1.5 s connect timeout');
  const client = await login(await enrollDevice(server, 'HN-00007'));
  t.ok(client.connected, 'a gateway logs in afterwards');
  await client.endAsync();
});
