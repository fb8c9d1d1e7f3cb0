// [P-4] The signed envelope: every manifest and report travels inside one.
import { createPrivateKey, createPublicKey, type KeyObject, randomUUID, sign, verify } from 'node:crypto';
import canonicalizeCjs from 'canonicalize';
import { LIMITS } from './limits.ts';
import { type BodyOf, type BodyType, bodySchemas } from './messages.ts';
import * as z from './zod.ts';

// The package is CommonJS (module.exports = fn) but its types declare an ES default export.
const canonicalize = canonicalizeCjs as unknown as (value: unknown) => string | undefined;

export const PROTOCOL_VERSION = 1;

export const Envelope = z.strictObject({
  v: z.int(),
  type: z.enum(Object.keys(bodySchemas) as [BodyType, ...BodyType[]]),
  id: z.uuid(),
  seq: z.int().check(z.nonnegative()),
  issuedAt: z.iso.datetime({ offset: false }),
  expiresAt: z.iso.datetime({ offset: false }),
  kid: z.string().check(z.minLength(1), z.maxLength(128)),
  body: z.unknown(),
  sig: z.string().check(z.regex(/^[0-9a-f]{128}$/)),
});
export type Envelope = z.infer<typeof Envelope>;

export type VerifyErrorCode =
  | 'TOO_LARGE'
  | 'MALFORMED'
  | 'UNSUPPORTED_VERSION'
  | 'UNKNOWN_KEY'
  | 'BAD_SIGNATURE'
  | 'EXPIRED'
  | 'REPLAYED'
  | 'STALE_SEQUENCE'
  | 'INVALID_BODY';

export type Opened<T extends BodyType> =
  | { ok: true; envelope: Envelope & { type: T }; body: BodyOf<T> }
  | { ok: false; code: VerifyErrorCode; message: string };

/** [P-4.2] The signed bytes: RFC 8785 (JCS) canonical JSON of the envelope without `sig`, UTF-8. */
export function canonicalBytes(envelope: Omit<Envelope, 'sig'> | Envelope): Buffer {
  const { sig: _sig, ...unsigned } = envelope as Envelope;
  return Buffer.from(canonicalJson(unsigned), 'utf8');
}

/** RFC 8785 (JCS) canonical JSON of any JSON value ([P-4.2]); a [P-3.9] batch item is stored in this form. */
export function canonicalJson(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new Error('value is not serializable');
  return text;
}

export interface Signer {
  kid: string;
  privateKey: KeyObject;
  /** Next sequence number; must never repeat or decrease for this kid ([P-4.3]). */
  nextSeq(): number;
}

export function seal<T extends BodyType>(
  type: T,
  body: BodyOf<T>,
  signer: Signer,
  opts: { now: Date; ttlMs: number; id?: string },
): Envelope {
  const unsigned = {
    v: PROTOCOL_VERSION,
    type,
    id: opts.id ?? randomUUID(),
    seq: signer.nextSeq(),
    issuedAt: opts.now.toISOString(),
    expiresAt: new Date(opts.now.getTime() + opts.ttlMs).toISOString(),
    kid: signer.kid,
    body,
  };
  const sig = sign(null, canonicalBytes(unsigned), signer.privateKey).toString('hex');
  return { ...unsigned, sig };
}

/** Replay memory of one receiver ([P-4.3]); persisted by the receiver so a restart cannot reopen a window. */
export interface ReplayGuard {
  hasSeen(id: string): boolean;
  lastSeq(kid: string): number | undefined;
  remember(envelope: Envelope): void;
}

export function memoryReplayGuard(maxIds = 10_000): ReplayGuard {
  const ids = new Set<string>();
  const seqs = new Map<string, number>();
  return {
    hasSeen: (id) => ids.has(id),
    lastSeq: (kid) => seqs.get(kid),
    remember(envelope) {
      ids.add(envelope.id);
      if (ids.size > maxIds) ids.delete(ids.values().next().value as string);
      seqs.set(envelope.kid, Math.max(seqs.get(envelope.kid) ?? -1, envelope.seq));
    },
  };
}

/**
 * [P-4.4] Verification order: size, shape, version, key, signature, expiry, replay, body.
 * Nothing is remembered unless every check passes; the caller calls guard.remember after acting.
 */
export function open<T extends BodyType>(
  raw: Buffer | string,
  expectedType: T | readonly T[],
  opts: { keys: (kid: string) => KeyObject | undefined; now: Date; guard?: ReplayGuard },
): Opened<T> {
  const size = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length;
  if (size > LIMITS.maxPayloadBytes) return fail('TOO_LARGE', `payload of ${size} bytes exceeds ${LIMITS.maxPayloadBytes}`);
  let json: unknown;
  try {
    json = JSON.parse(raw.toString());
  } catch {
    return fail('MALFORMED', 'payload is not JSON');
  }
  const parsed = Envelope.safeParse(json);
  if (!parsed.success) return fail('MALFORMED', z.prettifyError(parsed.error));
  const env = parsed.data;
  if (env.v !== PROTOCOL_VERSION) return fail('UNSUPPORTED_VERSION', `protocol version ${env.v} is not supported`);
  const expected: readonly BodyType[] = typeof expectedType === 'string' ? [expectedType] : expectedType;
  if (!expected.includes(env.type)) return fail('MALFORMED', `expected a ${expected.join(' or ')}, got ${env.type}`);
  const key = opts.keys(env.kid);
  if (!key) return fail('UNKNOWN_KEY', `unknown key id ${env.kid}`);
  if (!verify(null, canonicalBytes(env), key, Buffer.from(env.sig, 'hex'))) return fail('BAD_SIGNATURE', 'signature does not verify');
  if (Date.parse(env.expiresAt) <= opts.now.getTime()) return fail('EXPIRED', `message expired at ${env.expiresAt}`);
  if (opts.guard?.hasSeen(env.id)) return fail('REPLAYED', `message ${env.id} was already received`);
  const last = opts.guard?.lastSeq(env.kid);
  if (last !== undefined && env.seq <= last) return fail('STALE_SEQUENCE', `sequence ${env.seq} is not after ${last}`);
  const body = bodySchemas[env.type].safeParse(env.body);
  if (!body.success) return fail('INVALID_BODY', z.prettifyError(body.error));
  return { ok: true, envelope: env as Envelope & { type: T }, body: body.data as BodyOf<T> };
}

function fail(code: VerifyErrorCode, message: string): { ok: false; code: VerifyErrorCode; message: string } {
  return { ok: false, code, message };
}

/** Raw 32-byte Ed25519 public key as hex: the form PROTOCOL.md and the vectors use. */
export function publicKeyHex(key: KeyObject): string {
  const pub = key.type === 'public' ? key : createPublicKey(key);
  const der = pub.export({ format: 'der', type: 'spki' });
  return der.subarray(der.length - 32).toString('hex');
}

const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
export function publicKeyFromHex(hex: string): KeyObject {
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error('an Ed25519 public key is 32 bytes of hex');
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, Buffer.from(hex, 'hex')]), format: 'der', type: 'spki' });
}

export function privateKeyFromPem(pem: string): KeyObject {
  return createPrivateKey(pem);
}

/** [P-4.3] A sequence that survives restarts without storage: microseconds of wall time, strictly increasing. */
export function wallClockSequence(now: () => number): () => number {
  let last = 0;
  return () => {
    last = Math.max(last + 1, now() * 1000);
    return last;
  };
}
