import { generateKeyPairSync } from 'node:crypto';
import t from 'tap';
import {
  canonicalBytes,
  LIMITS,
  type Manifest,
  memoryReplayGuard,
  open,
  publicKeyFromHex,
  publicKeyHex,
  type Signer,
  seal,
  wallClockSequence,
} from '#protocol';
import { matchExact } from '../helpers/match.ts';

const T0 = Date.parse('2026-11-22T00:00:00Z');
const keyPair = () => generateKeyPairSync('ed25519');

function signer(kid = 'server:test'): Signer & { publicKey: ReturnType<typeof keyPair>['publicKey'] } {
  const { privateKey, publicKey } = keyPair();
  let seq = 0;
  return { kid, privateKey, publicKey, nextSeq: () => ++seq };
}

const manifest: Manifest = {
  station: 'HN-00001',
  version: 3,
  generatedAt: '2026-11-22T00:00:00.000Z',
  horizonUntil: '2026-11-29T00:00:00.000Z',
  entries: [
    {
      occurrenceId: 'occ-1',
      startsAt: '2026-11-22T00:30:00.000Z',
      priority: 'normal',
      media: { sha256: 'a'.repeat(64), path: `/blobs/${'a'.repeat(64)}`, durationMs: 60000, sizeBytes: 240000, codec: 'opus' },
    },
  ],
};

t.test('a sealed manifest opens with the signer key and yields the same body', async (t) => {
  const s = signer();
  const env = seal('manifest', manifest, s, { now: new Date(T0), ttlMs: 60_000 });
  const r = open(JSON.stringify(env), 'manifest', { keys: (k) => (k === s.kid ? s.publicKey : undefined), now: new Date(T0 + 1000) });
  t.ok(r.ok);
  if (r.ok) t.same(r.body, manifest);
});

t.test('canonical bytes are key-order independent and exclude the signature', async (t) => {
  const s = signer();
  const env = seal('manifest', manifest, s, { now: new Date(T0), ttlMs: 60_000 });
  const shuffled = Object.fromEntries(Object.entries(env).reverse()) as typeof env;
  t.same(canonicalBytes(shuffled), canonicalBytes(env));
  t.notOk(canonicalBytes(env).toString().includes(env.sig));
  t.ok(canonicalBytes(env).toString().startsWith('{"body":{"entries":'), 'keys sorted per RFC 8785');
});

t.test('each way a message can be wrong has its own verdict', async (t) => {
  const s = signer();
  const keys = (k: string) => (k === s.kid ? s.publicKey : undefined);
  const now = new Date(T0 + 1000);
  const good = seal('manifest', manifest, s, { now: new Date(T0), ttlMs: 60_000 });
  const cases: [string, unknown, string][] = [
    ['tampered body', { ...good, body: { ...manifest, version: 4 } }, 'BAD_SIGNATURE'],
    ['unknown key', { ...good, kid: 'server:other' }, 'UNKNOWN_KEY'],
    ['future version', { ...good, v: 2 }, 'UNSUPPORTED_VERSION'],
    ['missing field', { ...good, seq: undefined }, 'MALFORMED'],
    ['extra field', { ...good, extra: 1 }, 'MALFORMED'],
  ];
  for (const [name, msg, code] of cases) {
    const r = open(JSON.stringify(msg), 'manifest', { keys, now });
    t.equal(r.ok ? 'ok' : r.code, code, name);
  }
  t.equal(open('not json', 'manifest', { keys, now }).ok, false);
  const expired = open(JSON.stringify(good), 'manifest', { keys, now: new Date(T0 + 60_000) });
  t.equal(expired.ok ? 'ok' : expired.code, 'EXPIRED');
  const wrongKey = signer(s.kid);
  const forged = seal('manifest', manifest, wrongKey, { now: new Date(T0), ttlMs: 60_000 });
  const r = open(JSON.stringify(forged), 'manifest', { keys, now });
  t.equal(r.ok ? 'ok' : r.code, 'BAD_SIGNATURE', 'signed by another key under the same kid');
  const asReport = open(JSON.stringify(good), 'report', { keys, now });
  t.equal(asReport.ok ? 'ok' : asReport.code, 'MALFORMED', 'a manifest is not accepted where a report is expected');
});

t.test('an invalid body is refused even when correctly signed', async (t) => {
  const s = signer();
  const bad = { ...manifest, entries: [{ ...manifest.entries[0], startsAt: 'tomorrow' }] } as unknown as Manifest;
  const env = seal('manifest', bad, s, { now: new Date(T0), ttlMs: 60_000 });
  const r = open(JSON.stringify(env), 'manifest', { keys: () => s.publicKey, now: new Date(T0) });
  t.equal(r.ok ? 'ok' : r.code, 'INVALID_BODY');
});

t.test('replayed ids and old sequences are refused once remembered', async (t) => {
  const s = signer();
  const guard = memoryReplayGuard();
  const opts = { keys: () => s.publicKey, now: new Date(T0), guard };
  const first = seal('manifest', manifest, s, { now: new Date(T0), ttlMs: 60_000 });
  const second = seal('manifest', manifest, s, { now: new Date(T0), ttlMs: 60_000 });
  const r1 = open(JSON.stringify(second), 'manifest', opts);
  t.ok(r1.ok);
  if (r1.ok) guard.remember(r1.envelope);
  const replay = open(JSON.stringify(second), 'manifest', opts);
  t.equal(replay.ok ? 'ok' : replay.code, 'REPLAYED');
  const older = open(JSON.stringify(first), 'manifest', opts);
  t.equal(older.ok ? 'ok' : older.code, 'STALE_SEQUENCE');
});

t.test('oversized payloads are refused before parsing', async (t) => {
  const r = open(Buffer.alloc(LIMITS.maxPayloadBytes + 1, 32), 'manifest', { keys: () => undefined, now: new Date(T0) });
  t.equal(r.ok ? 'ok' : r.code, 'TOO_LARGE');
});

t.test('public keys round-trip through their raw 32-byte hex form', async (t) => {
  const { publicKey } = keyPair();
  const hex = publicKeyHex(publicKey);
  matchExact(t, hex, /^[0-9a-f]{64}$/);
  t.equal(publicKeyHex(publicKeyFromHex(hex)), hex);
  t.throws(() => publicKeyFromHex('zz'));
});

t.test('the wall-clock sequence is strictly increasing even when the clock stands still or steps back', async (t) => {
  let now = T0;
  const next = wallClockSequence(() => now);
  const a = next();
  const b = next();
  now -= 5000;
  const c = next();
  t.ok(a < b && b < c);
  t.equal(a, T0 * 1000);
});
