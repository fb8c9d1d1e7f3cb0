// Worker-thread side of signature checking: opens signed device messages ([P-4]) off the main thread.
// Pure: the keys and the instant come with each task.
import { type BodyType, canonicalJson, open, PlaybackReport, publicKeyFromHex, type ReportBatch } from '#protocol';

export interface OpenTask {
  now: number;
  /** `types`: the message types the topic carries (a report topic: a report or a [P-3.9] batch of them). */
  items: { payload: Uint8Array; types: BodyType[]; kid: string; publicKeyHex: string }[];
}

/**
 * [P-3.9] One report of a batch as the worker read it: its canonical form (RFC 8785, what is stored and
 * chained) and its body checked as a [P-3.2] report, or why it is not one.
 */
export type BatchItemRead = { id: string; raw: string } & ({ report: PlaybackReport } | { invalid: string });

/**
 * A refusal decided after the signature verified names the message's id (it is the sender's own, [P-3.8]).
 * A [P-3.9] batch comes back as its station and its reports read one by one (`items`), not as its body.
 */
export type OpenResult =
  | { ok: true; envelope: { id: string; type: BodyType }; body: unknown; items?: BatchItemRead[] }
  | { ok: false; code: string; message: string; id?: string };

/** Reads each report of a verified batch (here, on the worker, so the main thread only routes them). */
export function readBatchItems(batch: ReportBatch): BatchItemRead[] {
  return batch.reports.map((item) => {
    const raw = canonicalJson(item);
    const parsed = PlaybackReport.safeParse(item.report);
    return parsed.success
      ? { id: item.id, raw, report: parsed.data }
      : { id: item.id, raw, invalid: parsed.error.issues[0]?.message ?? 'not a report' };
  });
}

/**
 * [P-4.4] Refusals that name the message's claimed id: after the signature (authentic, only late or
 * malformed), and the signature itself failing for the device's own topic ([P-5.4.1]: told, never dropped).
 */
const NAMED = new Set(['EXPIRED', 'INVALID_BODY', 'BAD_SIGNATURE', 'UNKNOWN_KEY']);

const keys = new Map<string, ReturnType<typeof publicKeyFromHex>>();

export default function openMany(task: OpenTask): OpenResult[] {
  const now = new Date(task.now);
  return task.items.map((it) => {
    let key = keys.get(it.publicKeyHex);
    if (!key) {
      key = publicKeyFromHex(it.publicKeyHex);
      if (keys.size > 50_000) keys.clear();
      keys.set(it.publicKeyHex, key);
    }
    const raw = Buffer.from(it.payload.buffer, it.payload.byteOffset, it.payload.byteLength);
    const o = open(raw, it.types, { keys: (kid) => (kid === it.kid ? key : undefined), now });
    if (o.ok && o.envelope.type === 'report-batch') {
      const batch = o.body as ReportBatch;
      return { ok: true, envelope: o.envelope, body: { station: batch.station }, items: readBatchItems(batch) };
    }
    if (o.ok) return { ok: true, envelope: o.envelope, body: o.body };
    // Each of these codes comes after the envelope's shape check, so the payload parses and its id is a UUID.
    const id = NAMED.has(o.code) ? (JSON.parse(raw.toString('utf8')) as { id: string }).id : undefined;
    return { ok: false, code: o.code, message: o.message, ...(id ? { id } : {}) };
  });
}

/** Opens signed messages: the server's worker pool, or `openMany` inline. */
export type Opener = (task: OpenTask) => Promise<OpenResult[]> | OpenResult[];

/** Opens `items` as `openers` equal tasks at once (one per worker thread); results in the order of `items`. */
export async function openInParts(
  open: Opener | undefined,
  openers: number | undefined,
  now: number,
  items: OpenTask['items'],
): Promise<OpenResult[]> {
  const size = Math.ceil(items.length / (openers ?? 1)) || 1;
  const parts = await Promise.all(
    Array.from({ length: Math.ceil(items.length / size) }, (_, i) =>
      (open ?? openMany)({ now, items: items.slice(i * size, (i + 1) * size) }),
    ),
  );
  return parts.flat();
}
