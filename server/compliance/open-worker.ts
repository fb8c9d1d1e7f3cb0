// Worker-thread side of signature checking: opens signed device messages ([P-4]) off the main thread.
// Pure: the keys and the instant come with each task.
import { type BodyType, open, publicKeyFromHex } from '#protocol';

export interface OpenTask {
  now: number;
  items: { payload: Uint8Array; type: BodyType; kid: string; publicKeyHex: string }[];
}

export type OpenResult = { ok: true; envelope: { id: string }; body: unknown } | { ok: false; code: string; message: string };

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
    const o = open(Buffer.from(it.payload.buffer, it.payload.byteOffset, it.payload.byteLength), it.type, {
      keys: (kid) => (kid === it.kid ? key : undefined),
      now,
    });
    return o.ok ? { ok: true, envelope: o.envelope, body: o.body } : { ok: false, code: o.code, message: o.message };
  });
}
