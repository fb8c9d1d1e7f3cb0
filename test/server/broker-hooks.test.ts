// The HTTP auth/ACL hooks for an external EMQX or RabbitMQ, called as those brokers call them, with a
// real enrolled gateway's credentials: the same answers as the embedded broker gives.
import t from 'tap';
import { commandTopic, groupCommandTopic, manifestTopic, reportTopic } from '#protocol';
import { topicOfRoutingKey } from '../../server/routes/broker-hooks.ts';
import { api, enrollDevice, startTestServer } from '../helpers/server.ts';

const SECRET = 'a-hook-secret-at-least-24-chars';
const server = await startTestServer({ env: { LP_BROKER_HOOK_SECRET: SECRET, LP_MQTT_ANONYMOUS: 'false' } });
t.teardown(() => server.stop());
const gw = await enrollDevice(server, 'HN-00037');
const other = await enrollDevice(server, 'HN-00040');

const emqx = async (path: 'auth' | 'acl', body: object, secret = SECRET) => {
  const res = await fetch(`${server.url}/broker/emqx/${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as { result?: string } };
};
const rabbit = async (path: string, query: Record<string, string>, secret = SECRET) => {
  const res = await fetch(`${server.url}/broker/rabbitmq/${secret}/${path}?${new URLSearchParams(query)}`);
  return { status: res.status, text: await res.text() };
};

t.test('EMQX authentication: enrolled credentials allowed, anything else denied', async (t) => {
  const login = { username: gw.device, clientid: gw.device, password: gw.password };
  t.match(await emqx('auth', login), { status: 200, body: { result: 'allow' } });
  t.match(await emqx('auth', { ...login, password: 'wrong' }), { body: { result: 'deny' } });
  t.match(await emqx('auth', { ...login, clientid: other.device }), { body: { result: 'deny' } }, 'client id must be the device');
  t.match(await emqx('auth', { username: 'nobody', clientid: 'nobody', password: 'x' }), { body: { result: 'deny' } });
  t.match(await emqx('auth', {}), { body: { result: 'deny' } }, 'anonymous');
  t.match(await emqx('auth', login, 'not-the-secret-not-the-secret!!'), { status: 401 }, 'the hook itself needs the secret');
});

t.test('EMQX authorization follows the protocol ACL', async (t) => {
  const who = { username: gw.device, clientid: gw.device };
  const acl = async (action: string, topic: string) => (await emqx('acl', { ...who, action, topic })).body.result;
  t.equal(await acl('publish', reportTopic(gw.device)), 'allow');
  t.equal(await acl('publish', reportTopic(other.device)), 'deny', "another gateway's report topic");
  t.equal(await acl('publish', manifestTopic(gw.device)), 'deny', 'only the server publishes manifests');
  t.equal(await acl('subscribe', commandTopic(gw.device)), 'allow');
  t.equal(await acl('subscribe', groupCommandTopic('00037')), 'allow', "its commune's group");
  t.equal(await acl('subscribe', commandTopic(other.device)), 'deny');
  t.equal(await acl('subscribe', 'lp/v1/#'), 'deny');
  await api(server, 'POST', `/devices/${gw.device}/revoke`);
  t.equal(await acl('publish', reportTopic(gw.device)), 'deny', 'a revoked gateway has no rights left');
  t.match(await emqx('auth', { username: gw.device, clientid: gw.device, password: gw.password }), { body: { result: 'deny' } });
});

t.test('RabbitMQ: user, vhost, resource and topic checks in its text protocol', async (t) => {
  t.equal(topicOfRoutingKey('lp.v1.dev.HN-00040.report'), 'lp/v1/dev/HN-00040/report');
  t.equal(topicOfRoutingKey('lp.v1.dev.*.report'), 'lp/v1/dev/+/report');
  const login = { username: other.device, password: other.password, client_id: other.device };
  t.match(await rabbit('user', login), { status: 200, text: 'allow' });
  t.match(await rabbit('user', { ...login, password: 'wrong' }), { text: 'deny' });
  t.match(await rabbit('vhost', { username: other.device, vhost: '/' }), { text: 'allow' });
  t.match(await rabbit('resource', { username: other.device, vhost: '/', resource: 'exchange', name: 'amq.topic', permission: 'write' }), {
    text: 'allow',
  });
  t.match(await rabbit('resource', { username: other.device, vhost: '/', resource: 'exchange', name: 'amq.direct', permission: 'write' }), {
    text: 'deny',
  });
  const topic = (permission: string, routing_key: string) =>
    rabbit('topic', { username: other.device, vhost: '/', resource: 'topic', name: 'amq.topic', permission, routing_key });
  t.match(await topic('write', `lp.v1.dev.${other.device}.report`), { text: 'allow' });
  t.match(await topic('write', `lp.v1.dev.${other.device}.cmd`), { text: 'deny' });
  t.match(await topic('read', `lp.v1.dev.${other.device}.cmd`), { text: 'allow' });
  t.match(await topic('read', 'lp.v1.dev.*.cmd'), { text: 'deny' }, 'no wildcard reads for a gateway');
  t.match(await rabbit('user', login, 'not-the-secret-not-the-secret!!'), { status: 401 });
});
