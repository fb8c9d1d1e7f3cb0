// Re-checking a day of proofs after the fact (npm run verify, GET /stations/{code}/proofs/{day}/verify).
import type { KeyObject } from 'node:crypto';
import { canonicalJson, open, PlaybackReport, publicKeyFromHex } from '#protocol';
import type { Db } from '../db/client.ts';
import { deviceKid } from '../services/device-service.ts';
import { notFound } from '../services/errors.ts';
import { type ChainProblem, checkChain } from './chain.ts';

export interface DayVerification {
  station: string;
  day: string;
  proofs: number;
  ok: boolean;
  problems: (ChainProblem | { seq: number | null; id: string; code: string; message: string })[];
}

type Link = { id: string; raw: string; receivedAt: Date; batchId: string | null };
type Proven = { ok: true; id: string; body: PlaybackReport } | { ok: false; code: string; message: string };

/**
 * Re-checks one station's proofs of one Hanoi day: the hash chain, each proof's device signature (as
 * of its receipt; for a report that came in a [P-3.9] batch, the batch's signature and that the stored
 * item is the batch's), and that the stored columns say what the signed message says.
 */
export async function verifyProofDay(db: Db, stationCode: string, day: string): Promise<DayVerification> {
  const station = await db.station.findUnique({
    where: { code: stationCode },
    select: { id: true, devices: { select: { publicKeyHex: true } } },
  });
  if (!station) throw notFound('UNKNOWN_STATION', `unknown station ${stationCode}`);
  const links = await db.playbackReport.findMany({ where: { stationId: station.id, chainDay: day }, orderBy: { chainSeq: 'asc' } });
  const problems: DayVerification['problems'] = checkChain(station.id, day, links);
  const keys = new Map(
    station.devices.flatMap((d) => (d.publicKeyHex ? [[deviceKid(d.publicKeyHex), publicKeyFromHex(d.publicKeyHex)] as const] : [])),
  );
  const batchIds = [...new Set(links.flatMap((l) => (l.batchId ? [l.batchId] : [])))];
  const batches = new Map(
    (await db.reportBatch.findMany({ where: { id: { in: batchIds } }, select: { id: true, raw: true, receivedAt: true } })).map((b) => [
      b.id,
      b,
    ]),
  );
  for (const l of links) {
    const at = { seq: l.chainSeq, id: l.id };
    const opened = prove(l, keys, l.batchId ? batches.get(l.batchId) : undefined);
    if (!opened.ok) {
      problems.push({ ...at, code: opened.code, message: opened.message });
      continue;
    }
    const b = opened.body;
    const same =
      opened.id === l.id &&
      b.occurrenceId === l.occurrenceId &&
      `playback.${l.kind}` === b.kind &&
      (b.playedMs ?? null) === l.playedMs &&
      (b.level?.rmsDbfs ?? null) === l.rmsDbfs &&
      b.sha256 === l.sha256;
    if (!same) problems.push({ ...at, code: 'FIELDS_MISMATCH', message: 'stored columns differ from the signed proof' });
  }
  problems.sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
  return { station: stationCode, day, proofs: links.length, ok: problems.length === 0, problems };
}

/** The signed report a stored proof stands for: its own envelope, or its item in the batch that carried it. */
function prove(l: Link, keys: Map<string, KeyObject>, batch: { raw: string; receivedAt: Date } | undefined): Proven {
  const opts = { keys: (kid: string) => keys.get(kid), now: l.receivedAt };
  if (!l.batchId) {
    const o = open(l.raw, 'report', opts);
    return o.ok ? { ok: true, id: o.envelope.id, body: o.body } : o;
  }
  if (!batch) return { ok: false, code: 'BATCH_MISSING', message: `the batch ${l.batchId} that carried it is not stored` };
  const o = open(batch.raw, 'report-batch', { ...opts, now: batch.receivedAt });
  if (!o.ok) return o;
  const item = o.body.reports.find((r) => r.id === l.id);
  if (!item || canonicalJson(item) !== l.raw)
    return { ok: false, code: 'NOT_IN_BATCH', message: `the signed batch ${l.batchId} does not carry it` };
  const body = PlaybackReport.safeParse(item.report);
  return body.success ? { ok: true, id: item.id, body: body.data } : { ok: false, code: 'INVALID_BODY', message: 'not a report' };
}
