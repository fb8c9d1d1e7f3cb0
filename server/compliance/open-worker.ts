// Worker-thread side of signature checking: opens signed device messages ([P-4]) off the main thread.
// Pure: the keys and the instant come with each task.
import { type BodyType, open, publicKeyFromHex } from '#protocol';

export interface OpenTask {
  now: number;
  /** `types`: the message types the topic carries (a report topic: a report or a [P-3.9] batch of them). */
  items: { payload: Uint8Array; types: BodyType[]; kid: string; publicKeyHex: string }[];
}

/** A refusal decided after the signature verified names the message's id (it is the sender's own, [P-3.8]). */
export type OpenResult =
  | { ok: true; envelope: { id: string; type: BodyType }; body: unknown }
  | { ok: false; code: string; message: string; id?: string };

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
