// Tamper evidence for proofs of play: per station and Hanoi day, each stored report is a link whose hash
// covers the previous link, its message id and the signed message exactly as received. Changing,
// removing or reordering any stored proof breaks every later link; the device signatures inside make
// a forged proof fail on its own.
import { createHash } from 'node:crypto';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** What the first link of a station's day points back to. */
export function chainGenesis(stationId: string, day: string): string {
  return sha256(`loaphuong-chain\n${stationId}\n${day}`);
}

export function chainHash(prev: string, id: string, raw: string): string {
  return sha256(`${prev}\n${id}\n${raw}`);
}

export interface StoredLink {
  id: string;
  chainSeq: number | null;
  chainPrev: string | null;
  chainHash: string | null;
  raw: string;
}

export interface ChainProblem {
  seq: number | null;
  id: string;
  code: 'SEQ_GAP' | 'BROKEN_LINK' | 'HASH_MISMATCH';
  message: string;
}

/** Re-walks one station-day chain (links in seq order) and names every link that does not hold. */
export function checkChain(stationId: string, day: string, links: StoredLink[]): ChainProblem[] {
  const problems: ChainProblem[] = [];
  let prev = chainGenesis(stationId, day);
  links.forEach((l, i) => {
    const at = { seq: l.chainSeq, id: l.id };
    if (l.chainSeq !== i + 1) problems.push({ ...at, code: 'SEQ_GAP', message: `link ${i + 1} has seq ${l.chainSeq}` });
    if (l.chainPrev !== prev) problems.push({ ...at, code: 'BROKEN_LINK', message: 'does not point to the link before it' });
    if (l.chainHash !== chainHash(l.chainPrev ?? '', l.id, l.raw))
      problems.push({ ...at, code: 'HASH_MISMATCH', message: 'the stored message is not the one that was chained' });
    prev = l.chainHash ?? '';
  });
  return problems;
}
