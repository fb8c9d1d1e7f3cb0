// Alerts pushed out: e-mail through a real SMTP exchange (nodemailer in the server, smtp-server here as the
// mail host) and a signed webhook, as digests: a burst of 100 outages is one message per channel; nothing
// more until the interval passes; a failed send keeps its alerts for the next try. Scoped like the rest.
import { createServer } from 'node:http';
import { SMTPServer } from 'smtp-server';
import t from 'tap';
import { webhookSignature } from '../../server/services/notify-service.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { api, signedInAs, startTestServer } from '../helpers/server.ts';

const mails: { to: string[]; raw: string }[] = [];
const smtp = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS'],
  logger: false,
  onData(stream, session, done) {
    let raw = '';
    stream.on('data', (d: Buffer) => {
      raw += d.toString();
    });
    stream.on('end', () => {
      mails.push({ to: session.envelope.rcptTo.map((r) => r.address), raw });
      done();
    });
  },
});
await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
t.teardown(() => new Promise((resolve) => smtp.close(() => resolve(undefined))));
const smtpPort = (smtp.server.address() as { port: number }).port;

const hooks: { headers: Record<string, string | string[] | undefined>; body: string }[] = [];
let hookStatus = 500;
const hook = createServer((req, res) => {
  let body = '';
  req.on('data', (d) => {
    body += d;
  });
  req.on('end', () => {
    hooks.push({ headers: req.headers, body });
    res.writeHead(hookStatus).end();
  });
}).listen(0, '127.0.0.1');
await new Promise((r) => hook.once('listening', r));
t.teardown(() => hook.close());
const hookUrl = `http://127.0.0.1:${(hook.address() as { port: number }).port}/zalo`;

const clock = new FakeClock(Date.parse('2026-12-02T01:00:00Z'));
const server = await startTestServer({
  now: clock.date,
  env: { LP_SMTP_URL: `smtp://127.0.0.1:${smtpPort}`, LP_NOTIFY_INTERVAL_S: '300', LP_NOTIFY_TICK_MS: '600000' },
});
t.teardown(() => server.stop());
const operator = await signedInAs(server, 'truc.socson', 'district_operator', '016');
const communeOp = await signedInAs(server, 'truc.phucxa', 'commune_operator', '00001');

/**
 * An offline alert at each of the first `n` stations of a district, as the ledger raises them when airings find
 * them down: one open alert per station (a station already alerted is not raised again).
 */
const outage = async (unit: string, n: number) => {
  const stations = await server.db.station.findMany({ where: { unit: { parent: { code: unit } } }, take: n, orderBy: { code: 'asc' } });
  for (const st of stations)
    if (!(await server.db.alert.findFirst({ where: { stationId: st.id, kind: 'offline', status: { not: 'resolved' } } })))
      await server.db.alert.create({
        data: {
          stationId: st.id,
          kind: 'offline',
          message: `${st.code}: offline when an airing was due`,
          raisedAt: clock.date(),
          lastAt: clock.date(),
        },
      });
};

t.test('a channel per unit; another unit’s operator may not add one there', async (t) => {
  const mail = await api(server, 'POST', '/notifications/channels', { kind: 'email', address: 'truc-ban@socson.example' }, operator);
  t.match(mail, { status: 201, body: { kind: 'email', unitCode: '016', unitName: 'Huyện Sóc Sơn' } });
  t.notOk('secret' in mail.body, 'no secret for e-mail');
  const web = await api(server, 'POST', '/notifications/channels', { kind: 'webhook', address: hookUrl, unit: '016' }, operator);
  t.match(web, { status: 201, body: { kind: 'webhook', secret: /^[\w-]{43}$/ } });
  t.match(await api(server, 'POST', '/notifications/channels', { kind: 'email', address: 'x@y.z', unit: '016' }, communeOp), {
    status: 403,
    body: { error: { code: 'OUT_OF_SCOPE' } },
  });
  t.match(await api(server, 'POST', '/notifications/channels', { kind: 'webhook', address: 'ftp://x' }, operator), {
    status: 400,
    body: { error: { code: 'INVALID_WEBHOOK' } },
  });
  t.equal(
    ((await api(server, 'GET', '/notifications/channels', undefined, communeOp)).body.items as object[]).length,
    0,
    'not in its list',
  );
  t.equal(((await api(server, 'GET', '/notifications/channels', undefined, operator)).body.items as object[]).length, 2);
});

t.test('a burst of outages is one e-mail and one signed webhook call; the failed webhook is tried again after the interval', async (t) => {
  const secret = (await server.db.notificationChannel.findFirstOrThrow({ where: { kind: 'webhook' } })).secret ?? '';
  clock.advance(1000);
  await outage('016', 20);
  await outage('001', 3); // another district's stations: not Sóc Sơn's channels' business
  t.same(await server.notify.tick(), { sent: 1, failed: 1 }, 'the mail went out; the webhook answered 500');
  t.equal(mails.length, 1, 'one e-mail for 20 outages');
  t.same(mails[0]?.to, ['truc-ban@socson.example']);
  const text = Buffer.from(mails[0]?.raw ?? '').toString();
  t.match(text, /Subject: =\?UTF-8\?/, 'a Vietnamese subject, encoded');
  t.match(decodeMail(text), /20 cảnh báo mới hoặc lặp lại tại Huyện Sóc Sơn/);
  t.match(decodeMail(text), /mất kết nối khi đến giờ phát, từ 2026-12-02 08:00 \(giờ Hà Nội\)/, 'Hanoi time');
  t.notMatch(decodeMail(text), /Ba Đình/, 'no other district');
  t.equal(hooks.length, 1);
  const first = hooks[0];
  const ts = String(first?.headers['x-loaphuong-timestamp']);
  t.equal(first?.headers['x-loaphuong-signature'], webhookSignature(secret, ts, first?.body ?? ''), 'signed with the channel’s secret');
  t.match(JSON.parse(first?.body ?? '{}'), { type: 'alerts', unit: 'Huyện Sóc Sơn', total: 20 });

  // The whole district (26 communes) down within the interval: nothing is sent, whatever the ticks.
  clock.advance(60_000);
  await outage('016', 26);
  hookStatus = 200;
  t.same(await server.notify.tick(), { sent: 0, failed: 0 }, 'within the interval nothing goes out');
  t.equal(mails.length, 1);
  // After it: one more of each, the webhook with everything it has not been told yet.
  clock.advance(300_000);
  t.same(await server.notify.tick(), { sent: 2, failed: 0 });
  t.equal(mails.length, 2);
  t.match(
    decodeMail(Buffer.from(mails[1]?.raw ?? '').toString()),
    /6 cảnh báo mới/,
    'the mail: the 6 stations new since (those already alerted are not raised again)',
  );
  t.match(JSON.parse(hooks.at(-1)?.body ?? '{}'), { total: 26 }, 'the webhook: all 26, the 20 it missed included');
  t.match(await server.db.notificationChannel.findFirstOrThrow({ where: { kind: 'webhook' } }), { lastError: null, sent: 1 });
  clock.advance(300_000);
  t.same(await server.notify.tick(), { sent: 0, failed: 0 }, 'nothing new: nothing sent');
});

t.test('a channel is removed by its unit only', async (t) => {
  const [ch] = (await api(server, 'GET', '/notifications/channels', undefined, operator)).body.items as { id: string }[];
  t.match(await api(server, 'DELETE', `/notifications/channels/${ch?.id}`, undefined, communeOp), { status: 403 });
  t.match(await api(server, 'DELETE', `/notifications/channels/${ch?.id}`, undefined, operator), { status: 204 });
  t.match(await api(server, 'DELETE', `/notifications/channels/${ch?.id}`, undefined, operator), {
    status: 404,
    body: { error: { code: 'UNKNOWN_CHANNEL' } },
  });
});

/** The text of a MIME message, with quoted-printable and base64 parts decoded. */
function decodeMail(raw: string): string {
  const [, body = ''] =
    raw.split(/\r?\n\r?\n/, 2).length > 1 ? [raw.slice(0, raw.search(/\r?\n\r?\n/)), raw.slice(raw.search(/\r?\n\r?\n/))] : [raw, ''];
  if (/Content-Transfer-Encoding: base64/i.test(raw)) return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (/Content-Transfer-Encoding: quoted-printable/i.test(raw))
    return Buffer.from(
      body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16))),
      'latin1',
    ).toString('utf8');
  return body;
}
