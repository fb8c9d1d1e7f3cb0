// [P-3.8] Storage receipts and the truth of evidence, against the real server, broker and SQLite: a
// gateway's proof is receipted only once it is stored; a resent proof is stored once and receipted again;
// proofs that cannot be true are refused with a code (and receipted as refused, so the gateway lets them
// go), and a gateway that keeps sending them raises an alert; a message whose signature fails is never named stored or refused (only unverified).
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import t from 'tap';
import {
  type Envelope,
  open,
  type PlaybackReport,
  publicKeyFromHex,
  publicKeyHex,
  type ReportReceipt,
  receiptTopic,
  reportTopic,
  seal,
  wallClockSequence,
} from '#protocol';
import { openProofLedger } from '../../server/db/proof-ledger.ts';
import { CLOCK_TOLERANCE_MS, ReportService, untrueProof } from '../../server/services/report-service.ts';
import { makeTone } from '../helpers/audio.ts';
import { api, deviceClient, provisionDevice, scheduleItem, startTestServer, uploadApproved } from '../helpers/server.ts';
import { deadline } from '../helpers/server-process.ts';

const server = await startTestServer();
t.teardown(() => server.stop());

const STATION = 'HN-00301';
const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const hex = publicKeyHex(publicKey);
const enrolled = (await (
  await fetch(`${server.url}/api/v1/gateway/enroll`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: await provisionDevice(server, STATION), publicKeyHex: hex, agentVersion: 'test', protocolVersions: [1] }),
  })
).json()) as { device: string; mqtt: { password: string }; serverKeys: { kid: string; publicKeyHex: string }[] };
const device = enrolled.device;
const serverKeys = new Map(enrolled.serverKeys.map((k) => [k.kid, publicKeyFromHex(k.publicKeyHex)]));
const signer = { kid: `dev:${hex.slice(0, 16)}`, privateKey: privateKey as KeyObject, nextSeq: wallClockSequence(() => Date.now()) };

const { body: media } = await uploadApproved(server, makeTone(join(server.dataDir, 'r.wav'), { seconds: 2 }));
const client: MqttClient = await deviceClient(server, device, enrolled.mqtt.password);
t.teardown(() => client.endAsync());
const receipts: ReportReceipt[] = [];
const waiting: (() => void)[] = [];
client.on('message', (topic, payload) => {
  if (topic !== receiptTopic(device)) return;
  const opened = open(payload, 'receipt', { keys: (kid) => serverKeys.get(kid), now: new Date() });
  if (!opened.ok) throw new Error(`a receipt that does not verify: ${opened.code}`);
  receipts.push(opened.body);
  for (const w of waiting.splice(0)) w();
});
await client.subscribeAsync(receiptTopic(device), { qos: 1 });

/** Sends a signed report and resolves with the first receipt that names it (fails after 20 s). */
async function send(report: PlaybackReport, envelope = seal('report', report, signer, { now: new Date(), ttlMs: 86_400_000 })) {
  return { id: envelope.id, receipt: await publishUntilNamed(envelope, envelope.id) };
}

/** Publishes an envelope on the report topic; resolves with the first receipt since then that names `id`. */
async function publishUntilNamed(envelope: Envelope, id: string): Promise<ReportReceipt> {
  const from = receipts.length;
  const names = (r: ReportReceipt) => r.stored.includes(id) || r.refused.some((x) => x.id === id) || r.unverified?.includes(id) === true;
  const named = new Promise<ReportReceipt>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no receipt named ${id} within 20 s`)), 20_000);
    const check = () => {
      const found = receipts.slice(from).find(names);
      if (!found) return void waiting.push(check);
      clearTimeout(timer);
      resolve(found);
    };
    check();
  });
  await client.publishAsync(reportTopic(device), JSON.stringify(envelope), { qos: 1 });
  return named;
}

const base = (occurrenceId: string, startsAt: Date) => ({
  station: STATION,
  occurrenceId,
  sha256: media.sha256 as string,
  scheduledAt: startsAt.toISOString(),
  startedAt: new Date().toISOString(),
  expectedMs: 2000,
});

t.test('a stored proof is receipted after the commit; the same envelope again is stored once and receipted again', async (t) => {
  const startsAt = new Date(Date.now() - 1000);
  const occurrence = await scheduleItem(server, media.id, STATION, startsAt);
  const started = seal('report', { kind: 'playback.started', ...base(occurrence, startsAt) }, signer, {
    now: new Date(),
    ttlMs: 86_400_000,
  });
  const first = await send(started.body as PlaybackReport, started);
  t.same(first.receipt.stored, [started.id], 'named as stored');
  t.same(first.receipt.refused, []);
  t.equal(await server.db.playbackReport.count({ where: { id: started.id } }), 1, 'and it is in the proof table');
  const again = await send(started.body as PlaybackReport, started);
  t.same(again.receipt.stored, [started.id], 'a resend is receipted too (the first receipt may have been lost)');
  t.equal(await server.db.playbackReport.count({ where: { occurrenceId: occurrence } }), 1, 'stored once');
});

t.test('proofs that cannot be true are refused with a code, receipted as refused, and raise an alert when they keep coming', async (t) => {
  const future = new Date(Date.now() + 36 * 60_000);
  const ahead = await scheduleItem(server, media.id, STATION, future);
  const r1 = await send({ kind: 'playback.started', ...base(ahead, future) });
  t.same(r1.receipt.refused, [{ id: r1.id, code: 'FUTURE_AIRING' }], 'an airing 36 minutes ahead cannot have started');

  const startsAt = new Date(Date.now() - 5000);
  const now = await scheduleItem(server, media.id, STATION, startsAt);
  const startedAt = new Date(Date.now() - 4000);
  const r2 = await send({
    kind: 'playback.completed',
    ...base(now, startsAt),
    startedAt: startedAt.toISOString(),
    endedAt: new Date(startedAt.getTime() - 1000).toISOString(),
    playedMs: 0,
  });
  t.same(r2.receipt.refused, [{ id: r2.id, code: 'ENDED_BEFORE_STARTED' }]);
  const r3 = await send({
    kind: 'playback.completed',
    ...base(now, startsAt),
    startedAt: startedAt.toISOString(),
    endedAt: new Date(startedAt.getTime() + 2000).toISOString(),
    playedMs: 60_000,
  });
  t.same(r3.receipt.refused, [{ id: r3.id, code: 'PLAYED_EXCEEDS_ELAPSED' }], '60 s of audio in 2 s of time');
  const stored = await server.db.playbackReport.count({ where: { id: { in: [r1.id, r2.id, r3.id] } } });
  t.equal(stored, 0, 'none of them is evidence');
  const alerts = await api(server, 'GET', `/alerts?station=${STATION}&kind=refused_proofs`);
  t.equal((alerts.body.items as unknown[]).length, 1, 'one open alert for the station');
  t.match((alerts.body.items as { message: string }[])[0]?.message, /3 proofs refused as untrue/);
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  t.match(metrics, /result="FUTURE_AIRING"\} 1/, 'each refusal is counted by its code');
});

t.test('a message whose signature fails is never named stored or refused (nobody else can make a gateway drop a proof)', async (t) => {
  const startsAt = new Date(Date.now() - 1000);
  const occurrence = await scheduleItem(server, media.id, STATION, startsAt);
  const forged = seal(
    'report',
    { kind: 'playback.started', ...base(occurrence, startsAt) },
    { ...signer, privateKey: generateKeyPairSync('ed25519').privateKey },
    {
      now: new Date(),
      ttlMs: 86_400_000,
    },
  );
  await client.publishAsync(reportTopic(device), JSON.stringify(forged), { qos: 1 });
  const genuine = await send({ kind: 'playback.started', ...base(occurrence, startsAt) });
  t.same(genuine.receipt.stored, [genuine.id]);
  t.notOk(
    receipts.some((r) => r.stored.includes(forged.id) || r.refused.some((x) => x.id === forged.id)),
    'the forged id is neither stored nor refused, so the gateway keeps its copy',
  );
  t.ok(
    receipts.some((r) => r.unverified?.includes(forged.id)),
    '[P-5.4.1] it is named unverified: a gateway whose own key is refused learns it',
  );
});

t.test('the rule: the clock tolerance is stated, and instants inside it are accepted', async (t) => {
  const now = Date.parse('2026-12-01T10:00:00Z');
  const r = (o: Partial<PlaybackReport>): PlaybackReport => ({
    kind: 'playback.completed',
    station: STATION,
    occurrenceId: 'o',
    sha256: 'a'.repeat(64),
    scheduledAt: new Date(now).toISOString(),
    startedAt: new Date(now - 60_000).toISOString(),
    endedAt: new Date(now).toISOString(),
    expectedMs: 60_000,
    playedMs: 60_000,
    ...o,
  });
  t.equal(CLOCK_TOLERANCE_MS, 120_000);
  t.equal(untrueProof(r({}), new Date(now - 60_000), now), undefined, 'an honest proof');
  t.equal(untrueProof(r({}), new Date(now + CLOCK_TOLERANCE_MS), now), undefined, 'an airing at the edge of the tolerance');
  t.equal(untrueProof(r({}), new Date(now + CLOCK_TOLERANCE_MS + 1), now)?.code, 'FUTURE_AIRING');
  t.equal(
    untrueProof(r({ endedAt: new Date(now + CLOCK_TOLERANCE_MS + 1).toISOString() }), new Date(now - 60_000), now)?.code,
    'FUTURE_PROOF',
  );
  t.equal(untrueProof(r({ playedMs: 62_000 }), new Date(now - 60_000), now), undefined, 'two seconds of counting slack');
  t.equal(untrueProof(r({ playedMs: 62_001 }), new Date(now - 60_000), now)?.code, 'PLAYED_EXCEEDS_ELAPSED');
});

t.test('the proof queue is bounded: past its bound the MQTT link is told to wait, until it has drained', async (t) => {
  const ledger = openProofLedger(server.database);
  t.teardown(() => ledger.close());
  const quiet = { info() {}, warn() {}, error() {} };
  const reports = new ReportService({
    db: server.db,
    ledger,
    devices: server.devices,
    now: () => new Date(),
    metrics: server.metrics,
    log: quiet,
    maxQueue: 4,
  });
  t.equal(reports.room(), undefined, 'room while the queue is short');
  const handled = Array.from({ length: 4 }, () => reports.handleReport(device, Buffer.from('{"not":"a proof"}')));
  const wait = reports.room();
  t.ok(wait instanceof Promise, 'full: the link must wait before reading more');
  await deadline(wait as Promise<void>, 20_000, 'the queue to drain');
  t.same(await Promise.all(handled), ['rejected', 'rejected', 'rejected', 'rejected'], 'every queued message was answered');
  t.equal(reports.room(), undefined, 'room again');
});

t.test(
  '[P-3.9] a batch: one signature, each report judged, deduplicated, stored and receipted under its own id; the day still verifies',
  async (t) => {
    const startsAt = new Date(Date.now() - 3000);
    const [o1, o2] = [
      await scheduleItem(server, media.id, STATION, startsAt),
      await scheduleItem(server, media.id, STATION, startsAt.getTime() + 1),
    ];
    const ahead = new Date(Date.now() + 36 * 60_000);
    const o3 = await scheduleItem(server, media.id, STATION, ahead);
    const single = await send({ kind: 'playback.started', ...base(o1, startsAt) });
    t.equal(single.receipt.batchReports, 500, 'every receipt says the server takes batches, and how large');

    const endedAt = new Date();
    const completed = {
      kind: 'playback.completed',
      ...base(o1, startsAt),
      startedAt: startsAt.toISOString(),
      endedAt: endedAt.toISOString(),
      playedMs: 2000,
      level: { rmsDbfs: -20, peakDbfs: -3 },
    };
    const item = (report: object) => ({ id: crypto.randomUUID(), report: report as Record<string, unknown> });
    const items = [
      { id: single.id, report: { kind: 'playback.started', ...base(o1, startsAt) } },
      item(completed),
      item({ kind: 'playback.started', ...base(o2, startsAt) }),
      item({ kind: 'playback.started', ...base(o3, ahead) }),
      item({ kind: 'playback.sung', station: STATION }),
      item({ kind: 'playback.started', ...base(o2, startsAt), station: 'HN-00302' }),
    ];
    const [, c1, s2, f3, junk, elsewhere] = items.map((i) => i.id) as string[];
    const batch = seal('report-batch', { station: STATION, reports: items }, signer, { now: new Date(), ttlMs: 86_400_000 });
    const receipt = await publishUntilNamed(batch, c1 as string);
    t.same(receipt.stored, [single.id, c1, s2], 'stored: the two new reports, and the one stored before as a single report');
    t.same(
      receipt.refused,
      [
        { id: f3, code: 'FUTURE_AIRING' },
        { id: junk, code: 'INVALID_BODY' },
        { id: elsewhere, code: 'STATION_MISMATCH' },
      ],
      'each bad report refused alone, under its own id',
    );
    t.notOk([...receipt.stored, ...receipt.refused.map((r) => r.id)].includes(batch.id), 'the batch itself is not named');
    const rows = await server.db.playbackReport.findMany({ where: { id: { in: [single.id, c1 as string, s2 as string] } } });
    t.same(
      rows.map((r) => [r.id === single.id, r.batchId]).sort(),
      [
        [false, batch.id],
        [false, batch.id],
        [true, null],
      ].sort(),
    );
    t.equal(await server.db.reportBatch.count({ where: { id: batch.id } }), 1, 'the batch is kept as received');
    t.equal((await server.db.occurrence.findUniqueOrThrow({ where: { id: o1 } })).status, 'aired', 'and its end proof gave the verdict');

    const again = await publishUntilNamed(batch, c1 as string);
    t.same(again.stored, [single.id, c1, s2], 'the same batch again is receipted again');
    t.equal(await server.db.playbackReport.count({ where: { occurrenceId: { in: [o1, o2] } } }), 3, 'and stored once');

    const day = rows[0]?.chainDay as string;
    const verify = () => api(server, 'GET', `/stations/${STATION}/proofs/${day}/verify`);
    t.match((await verify()).body, { ok: true, problems: [] }, 'the chain and every signature hold, batch included');
    const held = await server.db.reportBatch.findUniqueOrThrow({ where: { id: batch.id } });
    await server.db.reportBatch.update({ where: { id: batch.id }, data: { raw: held.raw.replace('"playedMs":2000', '"playedMs":2001') } });
    const forged = (await verify()).body as { ok: boolean; problems: { id: string; code: string }[] };
    t.same(
      forged.problems.map((p) => [p.id, p.code]).sort(),
      [
        [c1, 'BAD_SIGNATURE'],
        [s2, 'BAD_SIGNATURE'],
      ].sort(),
      'a batch changed after the fact fails for each report it proves',
    );
    await server.db.reportBatch.update({ where: { id: batch.id }, data: { raw: held.raw } });
    await server.db.playbackReport.update({ where: { id: c1 as string }, data: { playedMs: 2001 } });
    const edited = (await verify()).body as { ok: boolean; problems: { id: string; code: string }[] };
    t.same(
      edited.problems.map((p) => [p.id, p.code]),
      [[c1, 'FIELDS_MISMATCH']],
      'a stored column that differs from the signed item is found',
    );
    await server.db.playbackReport.update({ where: { id: c1 as string }, data: { playedMs: 2000 } });
  },
);

t.test('[P-3.9] a batch whose signature fails names none of its reports; a batch for another station is refused whole', async (t) => {
  const startsAt = new Date(Date.now() - 1000);
  const occurrence = await scheduleItem(server, media.id, STATION, startsAt);
  const report = { id: crypto.randomUUID(), report: { kind: 'playback.started', ...base(occurrence, startsAt) } };
  const forged = seal(
    'report-batch',
    { station: STATION, reports: [report] },
    { ...signer, privateKey: generateKeyPairSync('ed25519').privateKey },
    {
      now: new Date(),
      ttlMs: 86_400_000,
    },
  );
  await client.publishAsync(reportTopic(device), JSON.stringify(forged), { qos: 1 });
  const other = seal('report-batch', { station: 'HN-00302', reports: [report] }, signer, { now: new Date(), ttlMs: 86_400_000 });
  const whole = await publishUntilNamed(other, other.id);
  t.same(whole.refused, [{ id: other.id, code: 'STATION_MISMATCH' }], 'named by its own id; its reports stay with the gateway');
  const genuine = await send({ kind: 'playback.started', ...base(occurrence, startsAt) });
  t.same(genuine.receipt.stored, [genuine.id]);
  t.notOk(
    receipts.some((r) => [...r.stored, ...r.refused.map((x) => x.id)].some((id) => id === forged.id || id === report.id)),
    'neither the forged batch nor its report appears in any receipt',
  );
  t.equal(await server.db.playbackReport.count({ where: { id: report.id } }), 0);
});

t.test('[P-5.4.1] messages from a device that keep failing their signature are named unverified and raise a device fault', async (t) => {
  const startsAt = new Date(Date.now() - 1000);
  const occurrence = await scheduleItem(server, media.id, STATION, startsAt);
  const wrong = { ...signer, privateKey: generateKeyPairSync('ed25519').privateKey };
  for (let i = 0; i < 3; i++) {
    const forged = seal('report', { kind: 'playback.started', ...base(occurrence, startsAt) }, wrong, {
      now: new Date(),
      ttlMs: 86_400_000,
    });
    const receipt = await publishUntilNamed(forged, forged.id);
    t.same([receipt.stored, receipt.refused, receipt.unverified], [[], [], [forged.id]], 'named unverified: neither stored nor refused');
  }
  const alerts = await api(server, 'GET', `/alerts?station=${STATION}&kind=device_fault`);
  t.match(alerts.body.items, [{ kind: 'device_fault', message: /failed their signature within an hour.*enroll it again/ }]);
  t.equal(await server.db.playbackReport.count({ where: { occurrenceId: occurrence } }), 0);
});
