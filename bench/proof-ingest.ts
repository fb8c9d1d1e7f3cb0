// Proof ingest, in one run on one server, three ways, each with its own 100 enrolled stations × 100 airings
// (a start and an end proof each: 20,000 proofs), pre-signed (signing is the gateways' cost):
// - proof_ingest_per_s: handed to ReportService.handleReport all at once, as the MQTT link does (batches,
//   signatures in the worker pool, one occurrence query and one transaction per batch). No MQTT hop.
// - proof_ingest_per_s_mqtt_single: each proof its own envelope, published by each station's device session
//   through the server's broker, until every one is named by a storage receipt.
// - proof_ingest_per_s_mqtt_batched: the same through MQTT as [P-3.9] batches of 100 reports (one signature
//   each), as a gateway flushes its outbox.
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { type PlaybackReport, publicKeyHex, receiptTopic, reportTopic, type Signer, seal, wallClockSequence } from '#protocol';
import { hanoiDayNumber } from '../server/scheduling/recurrence.ts';
import { makeTone } from '../test/helpers/audio.ts';
import { FakeClock } from '../test/helpers/fake-clock.ts';
import { deviceClient, provisionDevice, scheduleItem, startTestServer, type TestServer, uploadApproved } from '../test/helpers/server.ts';
import { figure } from './report.ts';

const STATIONS = 100;
const PER_STATION = 100;
const BATCH = 100;

type Gateway = { device: string; password: string; signer: Signer; bodies: PlaybackReport[] };
type Media = { id: string; sha256: string; durationMs: number };

export async function proofIngest(): Promise<void> {
  // The proofs are of airings that have happened: the server's clock moves past them before the ingest.
  const clock = new FakeClock(Date.now());
  const server = await startTestServer({ now: clock.date });
  try {
    const { body } = await uploadApproved(server, makeTone(join(server.dataDir, 'bench-proof.wav'), { seconds: 1 }));
    const media = body as unknown as Media;
    const start = Date.now() + 3600_000;
    const stations = await server.db.station.findMany({
      select: { id: true, code: true, unitId: true },
      orderBy: { code: 'asc' },
      take: 3 * STATIONS,
    });
    const sets: Gateway[][] = [];
    for (let i = 0; i < 3; i++) sets.push(await gateways(server, media, stations.slice(i * STATIONS, (i + 1) * STATIONS), start));
    clock.advanceTo(start + PER_STATION * 60_000 + 60_000);
    const [service, single, batched] = sets as [Gateway[], Gateway[], Gateway[]];
    const extra = { stations: STATIONS, proofs: 2 * STATIONS * PER_STATION };
    figure('compliance', 'proof_ingest_per_s', await throughService(server, service), 'proofs/s', {
      ...extra,
      path: 'ReportService.handleReport (no MQTT hop)',
    });
    figure('compliance', 'proof_ingest_per_s_mqtt_single', await throughMqtt(server, single, 1), 'proofs/s', {
      ...extra,
      path: 'MQTT, one envelope per proof, until receipted',
    });
    figure('compliance', 'proof_ingest_per_s_mqtt_batched', await throughMqtt(server, batched, BATCH), 'proofs/s', {
      ...extra,
      path: `MQTT, report-batch of ${BATCH}, until receipted`,
    });
  } finally {
    await server.stop();
  }
}

/** Enrolls a device per station and gives each station PER_STATION airings (the rest straight into the database). */
async function gateways(server: TestServer, media: Media, stations: { id: string; code: string; unitId: string | null }[], start: number) {
  const out: Gateway[] = [];
  for (const st of stations) {
    const privateKey = generateKeyPairSync('ed25519').privateKey;
    const hex = publicKeyHex(createPublicKey(privateKey));
    const res = await fetch(`${server.url}/api/v1/gateway/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        token: await provisionDevice(server, st.code),
        publicKeyHex: hex,
        agentVersion: 'bench',
        protocolVersions: [1],
      }),
    });
    const enrolled = (await res.json()) as { device: string; mqtt: { password: string } };
    const first = await scheduleItem(server, media.id, st.code, start);
    const { scheduleId } = await server.db.occurrence.findUniqueOrThrow({ where: { id: first }, select: { scheduleId: true } });
    const ids = [first, ...Array.from({ length: PER_STATION - 1 }, () => crypto.randomUUID())];
    await server.db.occurrence.createMany({
      data: ids.slice(1).map((id, i) => ({
        id,
        scheduleId,
        stationId: st.id,
        unitId: st.unitId,
        mediaId: media.id,
        startsAt: new Date(start + (i + 1) * 60_000),
        // As scheduling writes it: the rollup's triggers run on every verdict the ingest stores.
        day: hanoiDayNumber(new Date(start + (i + 1) * 60_000)),
      })),
    });
    const bodies = ids.flatMap((occurrenceId, i): PlaybackReport[] => {
      const at = new Date(start + i * 60_000).toISOString();
      const base = { station: st.code, occurrenceId, sha256: media.sha256, scheduledAt: at, startedAt: at, expectedMs: media.durationMs };
      return [
        { ...base, kind: 'playback.started' },
        { ...base, kind: 'playback.completed', endedAt: at, playedMs: media.durationMs, level: { rmsDbfs: -20, peakDbfs: -3 } },
      ];
    });
    const signer = { kid: `dev:${hex.slice(0, 16)}`, privateKey, nextSeq: wallClockSequence(Date.now) };
    out.push({ device: enrolled.device, password: enrolled.mqtt.password, signer, bodies });
  }
  return out;
}

const sealed = (g: Gateway, body: PlaybackReport) => seal('report', body, g.signer, { now: new Date(), ttlMs: 86_400_000 });

async function throughService(server: TestServer, set: Gateway[]): Promise<number> {
  const payloads = set.flatMap((g) => g.bodies.map((b) => ({ device: g.device, payload: Buffer.from(JSON.stringify(sealed(g, b))) })));
  // Interleave stations, as proofs arrive from many gateways at once.
  payloads.sort((a, b) => a.payload.length - b.payload.length || a.device.localeCompare(b.device));
  const outcomes: Record<string, number> = {};
  const t0 = performance.now();
  await Promise.all(
    payloads.map(async (p) => {
      const outcome = await server.reports.handleReport(p.device, p.payload);
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  if (outcomes.stored !== payloads.length) throw new Error(`not every proof was stored: ${JSON.stringify(outcomes)}`);
  return payloads.length / seconds;
}

/** Every device publishes its proofs (alone, or `per` to a batch) at once; timed until receipts name them all. */
async function throughMqtt(server: TestServer, set: Gateway[], per: number): Promise<number> {
  const clients: MqttClient[] = [];
  try {
    const messages: { client: MqttClient; device: string; payload: string }[] = [];
    const waiting = new Set<string>();
    let done: () => void = () => {};
    const all = new Promise<void>((resolve) => {
      done = resolve;
    });
    const refused: string[] = [];
    for (const g of set) {
      const client = await deviceClient(server, g.device, g.password);
      clients.push(client);
      client.on('message', (_topic, payload) => {
        const { body } = JSON.parse(payload.toString()) as { body: { stored: string[]; refused: { id: string; code: string }[] } };
        for (const id of body.stored) waiting.delete(id);
        for (const r of body.refused) {
          waiting.delete(r.id);
          refused.push(r.code);
        }
        if (!waiting.size) done();
      });
      await client.subscribeAsync(receiptTopic(g.device), { qos: 1 });
      for (let i = 0; i < g.bodies.length; i += per) {
        const part = g.bodies.slice(i, i + per);
        if (per === 1) {
          const env = sealed(g, part[0] as PlaybackReport);
          waiting.add(env.id);
          messages.push({ client, device: g.device, payload: JSON.stringify(env) });
          continue;
        }
        const reports = part.map((report) => ({ id: crypto.randomUUID(), report }));
        for (const r of reports) waiting.add(r.id);
        const env = seal('report-batch', { station: part[0]?.station as string, reports }, g.signer, {
          now: new Date(),
          ttlMs: 86_400_000,
        });
        messages.push({ client, device: g.device, payload: JSON.stringify(env) });
      }
    }
    const t0 = performance.now();
    await Promise.all(messages.map((m) => m.client.publishAsync(reportTopic(m.device), m.payload, { qos: 1 })));
    await all;
    const seconds = (performance.now() - t0) / 1000;
    if (refused.length) throw new Error(`${refused.length} proofs refused: ${[...new Set(refused)].join(', ')}`);
    return set.reduce((n, g) => n + g.bodies.length, 0) / seconds;
  } finally {
    await Promise.all(clients.map((c) => c.endAsync()));
  }
}
