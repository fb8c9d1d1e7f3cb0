// Re-checking a day of proofs after the fact (npm run verify, GET /stations/{code}/proofs/{day}/verify).
import { open, publicKeyFromHex } from '#protocol';
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

/**
 * Re-checks one station's proofs of one Hanoi day: the hash chain, each proof's device signature (as
 * of its receipt), and that the stored columns say what the signed message says.
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
  for (const l of links) {
    const at = { seq: l.chainSeq, id: l.id };
    const opened = open(l.raw, 'report', { keys: (kid) => keys.get(kid), now: l.receivedAt });
    if (!opened.ok) {
      problems.push({ ...at, code: opened.code, message: opened.message });
      continue;
    }
    const b = opened.body;
    const same =
      opened.envelope.id === l.id &&
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
