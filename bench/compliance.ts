// proof_ingest_per_s: signed playback reports through the server's ingest (ReportService.handleReport:
// signature check with the device key, occurrence lookup, duplicate check, hash-chain link, one
// transaction per proof), 64 in flight, from pre-signed payloads (signing is the gateways' cost, not
// the server's). Fixture: 50 enrolled stations × 40 occurrences, a start and an end proof each.
// The MQTT hop is not included: the broker's own throughput is the dispatch bench's subject.
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { type PlaybackReport, publicKeyHex, seal, wallClockSequence } from '#protocol';
import { makeTone } from '../test/helpers/audio.ts';
import { provisionDevice, scheduleItem, startTestServer, uploadApproved } from '../test/helpers/server.ts';
import { figure } from './report.ts';

const STATIONS = 50;
const PER_STATION = 40;

export async function run(): Promise<void> {
  const server = await startTestServer();
  try {
    const { body: media } = await uploadApproved(server, makeTone(join(server.dataDir, 'bench-proof.wav'), { seconds: 1 }));
    const stations = (
      await server.db.station.findMany({ select: { id: true, code: true, unitId: true }, orderBy: { code: 'asc' }, take: STATIONS })
    ).map((s) => s);
    const start = Date.now() + 3600_000;
    const payloads: { device: string; payload: Buffer }[] = [];
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
      const { device } = (await res.json()) as { device: string };
      const first = await scheduleItem(server, media.id, st.code, start);
      const scheduleId = (await server.db.occurrence.findUniqueOrThrow({ where: { id: first }, select: { scheduleId: true } })).scheduleId;
      // The rest of the fixture straight into the database: the bench is about ingest, not scheduling.
      const ids = [first, ...Array.from({ length: PER_STATION - 1 }, () => crypto.randomUUID())];
      await server.db.occurrence.createMany({
        data: ids.slice(1).map((id, i) => ({
          id,
          scheduleId,
          stationId: st.id,
          unitId: st.unitId,
          mediaId: media.id as string,
          startsAt: new Date(start + (i + 1) * 60_000),
        })),
      });
      const signer = { kid: `dev:${hex.slice(0, 16)}`, privateKey, nextSeq: wallClockSequence(Date.now) };
      ids.forEach((occurrenceId, i) => {
        const at = new Date(start + i * 60_000).toISOString();
        const base = {
          station: st.code,
          occurrenceId,
          sha256: media.sha256 as string,
          scheduledAt: at,
          startedAt: at,
          expectedMs: media.durationMs as number,
        };
        const bodies: PlaybackReport[] = [
          { ...base, kind: 'playback.started' },
          { ...base, kind: 'playback.completed', endedAt: at, playedMs: media.durationMs as number, level: { rmsDbfs: -20, peakDbfs: -3 } },
        ];
        for (const body of bodies)
          payloads.push({
            device,
            payload: Buffer.from(JSON.stringify(seal('report', body, signer, { now: new Date(), ttlMs: 86_400_000 }))),
          });
      });
    }
    // Interleave stations, as proofs arrive from many gateways at once.
    payloads.sort((a, b) => a.payload.length - b.payload.length || a.device.localeCompare(b.device));
    const outcomes: Record<string, number> = {};
    const t0 = performance.now();
    // As the MQTT link does: every message handed over as it arrives, none waiting for the one before.
    await Promise.all(
      payloads.map(async (p) => {
        const outcome = await server.reports.handleReport(p.device, p.payload);
        outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    if (outcomes.stored !== payloads.length) throw new Error(`not every proof was stored: ${JSON.stringify(outcomes)}`);
    figure('compliance', 'proof_ingest_per_s', payloads.length / seconds, 'proofs/s', {
      proofs: payloads.length,
      stations: STATIONS,
      path: 'ReportService.handleReport (no MQTT hop)',
    });
  } finally {
    await server.stop();
  }
}
