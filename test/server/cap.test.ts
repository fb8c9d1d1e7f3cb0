// CAP 1.2 in and out (issue 22): samples written from the standard (Alert, Exercise, Update, Cancel, polygon,
// geocode, a signed alert) become alerts; malformed and hostile documents (XXE, billion laughs, the CAP 1.1
// namespace, a "Z" time, a tampered signature, an unknown signer, oversized) are refused with their codes;
// every alert reads back as a CAP 1.2 document that passes the same checks.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { readCap } from '../../server/services/cap.ts';
import { signCap } from '../helpers/cap.ts';
import { api, startTestServer } from '../helpers/server.ts';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
const dir = mkdtempSync(join(tmpdir(), 'lp-cap-'));
const sendersFile = join(dir, 'senders.json');
writeFileSync(sendersFile, JSON.stringify({ 'kttv@nchmf.gov.vn': publicKey.export({ type: 'spki', format: 'pem' }) }));
const server = await startTestServer({ env: { LP_CAP_SENDERS_FILE: sendersFile, LP_CAP_SENDER: 'loaphuong@hanoi.gov.vn' } });
t.teardown(() => server.stop());

const stations = await server.db.station.findMany({ include: { unit: { include: { parent: true } } }, orderBy: { code: 'asc' } });
const [stA, stB] = stations;
if (!stA || !stB || stA.unit.parent?.code !== stB.unit.parent?.code) throw new Error('the seed’s first two stations share a district');
const district = stA.unit.parent?.code as string;
await server.db.station.update({ where: { code: stA.code }, data: { latitude: 21.0, longitude: 105.8 } });
await server.db.station.update({ where: { code: stB.code }, data: { latitude: 21.01, longitude: 105.81 } });

interface Answer {
  status: number;
  body: {
    id: string;
    state: string;
    status: string;
    version: number;
    text: string;
    confirmedBy: string | null;
    counts: { stations: number };
    error?: { code: string };
  };
}
async function postCap(xml: string, type = 'application/cap+xml'): Promise<Answer> {
  const res = await fetch(`${server.url}/api/v1/emergencies/cap`, {
    method: 'POST',
    headers: { ...server.auth, 'content-type': type },
    body: xml,
  });
  return { status: res.status, body: (await res.json()) as Answer['body'] };
}

let serial = 0;
function cap(
  o: { status?: string; msgType?: string; references?: string; area?: string; sent?: string; ns?: string; id?: string } = {},
): string {
  const id = o.id ?? `hn-${++serial}`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="${o.ns ?? 'urn:oasis:names:tc:emergency:cap:1.2'}">
  <identifier>${id}</identifier>
  <sender>kttv@nchmf.gov.vn</sender>
  <sent>${o.sent ?? '2026-12-05T14:00:00+07:00'}</sent>
  <status>${o.status ?? 'Exercise'}</status>
  <msgType>${o.msgType ?? 'Alert'}</msgType>
  <scope>Public</scope>${o.references ? `\n  <references>${o.references}</references>` : ''}
  <info>
    <language>en-US</language>
    <category>Met</category>
    <event>Typhoon</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Observed</certainty>
    <headline>Typhoon warning</headline>
  </info>
  <info>
    <language>vi-VN</language>
    <category>Met</category>
    <event>Bão</event>
    <urgency>Immediate</urgency>
    <severity>Extreme</severity>
    <certainty>Observed</certainty>
    <headline>Bão số 3</headline>
    <description>Bão đổ bộ trong 6 giờ tới.</description>
    <instruction>Bà con ở trong nhà.</instruction>
    <area>
      <areaDesc>Hà Nội</areaDesc>
      ${o.area ?? `<geocode><valueName>VN-UNIT</valueName><value>${district}</value></geocode>`}
    </area>
  </info>
</alert>`;
}

const signed = (xml: string) => signCap(xml, keyPem);

t.test(
  'an Exercise by geocode airs to the unit, in Vietnamese, saying it is an exercise; Update corrects it, Cancel ends it',
  async (t) => {
    const made = await postCap(cap({ id: 'hn-ex-1' }));
    t.equal(made.status, 201, JSON.stringify(made.body.error ?? ''));
    t.match(made.body, { status: 'exercise', state: 'active' });
    t.equal(made.body.counts.stations, stations.filter((s) => s.unit.parent?.code === district).length);
    t.match(
      made.body.text,
      /^Đây là tin diễn tập.*Bão số 3\. Bão đổ bộ trong 6 giờ tới\. Bà con ở trong nhà\./s,
      'the vi-VN info is spoken',
    );
    const updated = await postCap(cap({ msgType: 'Update', references: 'kttv@nchmf.gov.vn,hn-ex-1,2026-12-05T14:00:00+07:00' }));
    t.match(updated.body, { id: made.body.id, version: 2 });
    const cancelled = await postCap(cap({ msgType: 'Cancel', references: 'kttv@nchmf.gov.vn,hn-ex-1,2026-12-05T14:00:00+07:00' }));
    t.match(cancelled.body, { id: made.body.id, state: 'cancelled' });

    const out = await fetch(`${server.url}/api/v1/emergencies/${made.body.id}/cap`, { headers: server.auth });
    t.match(out.headers.get('content-type'), /application\/cap\+xml/);
    const { alert } = readCap(await out.text());
    t.match(
      alert,
      { identifier: made.body.id, sender: 'loaphuong@hanoi.gov.vn', status: 'Exercise', msgType: 'Cancel' },
      'exported as CAP 1.2',
    );
    t.match(alert.info[0]?.area[0]?.geocode, [{ valueName: 'VN-UNIT', value: district }]);
  },
);

t.test('an unsigned Actual polygon alert over two communes waits for a second person; a trusted signature stands for one', async (t) => {
  const polygon = '<polygon>20.99,105.79 20.99,105.82 21.02,105.82 21.02,105.79 20.99,105.79</polygon>';
  const unsigned = await postCap(cap({ status: 'Actual', area: polygon }));
  t.equal(unsigned.status, 201, JSON.stringify(unsigned.body.error ?? ''));
  t.match(unsigned.body, { state: 'pending', counts: { stations: 2 } });
  const good = await postCap(signed(cap({ status: 'Actual', area: polygon })));
  t.equal(good.status, 201, JSON.stringify(good.body.error ?? ''));
  t.match(good.body, { state: 'active', confirmedBy: 'cap:kttv@nchmf.gov.vn' }, 'confirmed by its signer');
  await api(server, 'POST', `/emergencies/${good.body.id}/cancel`);
  const tampered = signed(cap({ status: 'Actual', area: polygon })).replace('Bà con ở trong nhà.', 'Bà con ra đường.');
  t.equal((await postCap(tampered)).body.error?.code, 'CAP_BAD_SIGNATURE');
  const stranger = signed(cap({ status: 'Actual', area: polygon })).replaceAll('kttv@nchmf.gov.vn', 'someone@example.com');
  t.equal((await postCap(stranger)).body.error?.code, 'CAP_UNKNOWN_SENDER');
});

t.test('a district that requires signatures refuses an unsigned alert', async (t) => {
  t.equal((await api(server, 'PUT', `/units/${district}/policy`, { capSignatureRequired: true })).status, 200);
  t.equal((await postCap(cap())).body.error?.code, 'CAP_SIGNATURE_REQUIRED');
  t.equal((await postCap(signed(cap()))).status, 201, 'a signed one is taken');
  t.equal((await api(server, 'PUT', `/units/${district}/policy`, {})).status, 200);
});

t.test('hostile and malformed documents are refused with a clear code, nothing raised', async (t) => {
  const before = await server.db.emergency.count();
  const xxe = `<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY x SYSTEM "file:///etc/passwd">]>${cap()
    .replace(/^<\?xml[^>]*>/, '')
    .replace('<headline>Bão số 3</headline>', '<headline>&x;</headline>')}`;
  t.equal((await postCap(xxe)).body.error?.code, 'XML_DTD_REFUSED', 'external entity');
  const lol = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><alert>&lol2;</alert>`;
  t.equal((await postCap(lol)).body.error?.code, 'XML_DTD_REFUSED', 'entity expansion');
  t.equal((await postCap(cap({ ns: 'urn:oasis:names:tc:emergency:cap:1.1' }))).body.error?.code, 'CAP_NAMESPACE', 'CAP 1.1');
  t.equal((await postCap(cap().replace('</alert>', ''))).body.error?.code, 'MALFORMED_XML');
  t.equal((await postCap(cap({ sent: '2026-12-05T07:00:00Z' }))).body.error?.code, 'INVALID_CAP', 'a time with Z, which CAP forbids');
  t.equal((await postCap(cap().replace('<status>Exercise</status>', ''))).body.error?.code, 'INVALID_CAP', 'no status');
  t.equal(
    (await postCap(cap({ area: '<polygon>21,105 21,106 21,105</polygon>' }))).body.error?.code,
    'INVALID_CAP',
    'a polygon of 3 points',
  );
  t.equal((await postCap(cap({ status: 'Draft' }))).body.error?.code, 'CAP_DRAFT');
  t.equal(
    (await postCap(cap({ area: '<geocode><valueName>FIPS6</valueName><value>006113</value></geocode>' }))).body.error?.code,
    'CAP_NO_AREA',
  );
  t.equal(
    (await postCap(cap({ msgType: 'Cancel', references: 'kttv@nchmf.gov.vn,nothing,2026-12-05T14:00:00+07:00' }))).body.error?.code,
    'UNKNOWN_EMERGENCY',
  );
  const huge = await postCap(cap().replace('</alert>', `<note>${'x'.repeat(300 * 1024)}</note></alert>`));
  t.equal(huge.status, 413, 'oversized');
  t.equal(await server.db.emergency.count(), before, 'none of them raised an alert');
});
