// Builds the protocol's checked-in artifacts: JSON Schemas from the zod definitions, and test
// vectors from fixed keys, ids and instants (Ed25519 is deterministic, so the output is too).
// `npm run protocol:generate` writes them; a test fails when the checked-in copies are stale.
import { createHash, type KeyObject, sign } from 'node:crypto';
import { z } from 'zod';
import {
  type BodyOf,
  type BodyType,
  canonicalBytes,
  type Envelope,
  Envelope as EnvelopeSchema,
  groupPlanHash,
  LIMITS,
  publishedSchemas,
  seal,
} from '../src/index.ts';
import { NOW, SERVER, vectorKey } from './keys.ts';
import { liveVectors } from './live-vectors.ts';
import { reportVectorFiles } from './report-vectors.ts';
import { rfcVectorFiles } from './rfc-vectors.ts';

export type { LiveVector } from './live-vectors.ts';

export function schemaFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  const all = { envelope: EnvelopeSchema, ...publishedSchemas } as Record<string, z.core.$ZodType>;
  for (const [name, schema] of Object.entries(all)) {
    const json = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' });
    const doc = { $id: `https://loaphuong.invalid/protocol/v1/${name}.schema.json`, title: name, ...json };
    files[`${name}.schema.json`] = `${JSON.stringify(doc, null, 2)}\n`;
  }
  return files;
}

const DEVICE = vectorKey('loaphuong vector key: device HN-00004');
export const OTHER = vectorKey('loaphuong vector key: attacker');
const SERVER_KID = `server:${SERVER.publicKeyHex.slice(0, 16)}`;
const DEVICE_KID = `dev:${DEVICE.publicKeyHex.slice(0, 16)}`;
const SHA = createHash('sha256').update('vector audio').digest('hex');
const media = { sha256: SHA, path: `/blobs/${SHA}`, durationMs: 60_000, sizeBytes: 240_512, codec: 'opus' };

export interface Vector {
  name: string;
  description: string;
  expectedType: BodyType;
  /** The receiver's clock when the message arrives. */
  now: string;
  /** Key ids the receiver knows, with their raw public keys. */
  keys: Record<string, string>;
  /** What the receiver already accepted: ids and last sequence per key id. */
  receiverState: { seenIds: string[]; lastSeq: Record<string, number> };
  /** The exact MQTT payload, as UTF-8 text. */
  payload: string;
  /** For signed envelopes: the canonical bytes ([P-4.2]) and the signature, both hex. */
  canonicalHex?: string;
  signatureHex?: string;
  signerPublicKeyHex?: string;
  expected: 'ok' | string;
}

/**
 * [P-4.6] Each type's lifetime, so every vector lives as long as a real message of its kind: a manifest its
 * horizon (the vectors' is 7 days) + 1 day, a command 60 s, a reply, ack or receipt 1 h, a report 30 days.
 */
const LIFETIME_MS: Record<BodyType, number> = {
  manifest: 8 * 86_400_000,
  'manifest-delta': 86_400_000,
  'manifest-ack': 3600_000,
  'group-plan': 8 * 86_400_000,
  report: 30 * 86_400_000,
  'report-batch': 30 * 86_400_000,
  receipt: 3600_000,
  command: 60_000,
  reply: 3600_000,
  telemetry: 120_000,
};

function signed<T extends BodyType>(
  type: T,
  body: BodyOf<T>,
  key: { privateKey: KeyObject },
  kid: string,
  opts: { id: string; seq: number; ttlMs?: number; v?: number },
): Envelope {
  const env = seal(
    type,
    body,
    { kid, privateKey: key.privateKey, nextSeq: () => opts.seq },
    { now: NOW, ttlMs: opts.ttlMs ?? LIFETIME_MS[type], id: opts.id },
  );
  if (opts.v === undefined) return env;
  // A version the receiver does not speak, correctly signed: only the version check may refuse it.
  return resign({ ...env, v: opts.v }, key.privateKey);
}

function resign(env: Envelope, privateKey: KeyObject): Envelope {
  return { ...env, sig: sign(null, canonicalBytes(env), privateKey).toString('hex') };
}

function vector(
  name: string,
  description: string,
  expectedType: BodyType,
  message: Envelope | string,
  expected: string,
  extra: Partial<Pick<Vector, 'now' | 'receiverState' | 'keys'>> & { signedBy?: { publicKeyHex: string } } = {},
): Vector {
  const payload = typeof message === 'string' ? message : JSON.stringify(message);
  const env = typeof message === 'string' ? undefined : message;
  // The key that made the signature (not the one the key id claims, for a forgery).
  const signer = extra.signedBy ?? (env?.kid === DEVICE_KID ? DEVICE : env?.kid === SERVER_KID ? SERVER : undefined);
  return {
    name,
    description,
    expectedType,
    now: extra.now ?? new Date(NOW.getTime() + 1000).toISOString(),
    keys: extra.keys ?? { [SERVER_KID]: SERVER.publicKeyHex, [DEVICE_KID]: DEVICE.publicKeyHex },
    receiverState: extra.receiverState ?? { seenIds: [], lastSeq: {} },
    payload,
    ...(env && /^[0-9a-f]{128}$/.test(env.sig ?? '')
      ? {
          canonicalHex: canonicalBytes(env).toString('hex'),
          signatureHex: env.sig,
          ...(signer ? { signerPublicKeyHex: signer.publicKeyHex } : {}),
        }
      : {}),
    expected,
  };
}

const uuid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

export function envelopeVectors(): Vector[] {
  const manifest: BodyOf<'manifest'> = {
    station: 'HN-00004',
    version: 7,
    generatedAt: NOW.toISOString(),
    horizonUntil: '2026-11-29T00:00:00.000Z',
    entries: [{ occurrenceId: 'occ-0001', startsAt: '2026-11-22T23:30:00.000Z', priority: 'normal', media }],
  };
  const report: BodyOf<'report'> = {
    kind: 'playback.completed',
    station: 'HN-00004',
    occurrenceId: 'occ-0001',
    sha256: SHA,
    scheduledAt: '2026-11-22T23:30:00.000Z',
    startedAt: '2026-11-22T23:30:00.004Z',
    endedAt: '2026-11-22T23:31:00.010Z',
    expectedMs: 60_000,
    playedMs: 60_000,
    level: { rmsDbfs: -18.6, peakDbfs: -1.2 },
  };
  const groupPlan: BodyOf<'group-plan'> = {
    unit: '01-001',
    version: 3,
    generatedAt: NOW.toISOString(),
    horizonUntil: '2026-11-29T00:00:00.000Z',
    entries: [{ ...manifest.entries[0], occurrenceId: 'g0001' }],
  };
  const good = signed('manifest', manifest, SERVER, SERVER_KID, { id: uuid(1), seq: 1795305600000000 });
  const tamperedBody = { ...good, body: { ...manifest, entries: [{ ...manifest.entries[0], startsAt: '2026-11-22T20:15:00.000Z' }] } };
  const { sig: _sig, ...unsigned } = good;
  const notJson = '{"v":1,"type":"manifest",';
  const oversized = signed('manifest', { ...manifest, entries: [] }, SERVER, SERVER_KID, { id: uuid(14), seq: 1795305600000014 });
  const pad = ' '.repeat(LIMITS.maxPayloadBytes + 1 - JSON.stringify(oversized).length);
  return [
    vector('manifest-valid', 'A manifest signed by the server key; accepted.', 'manifest', good, 'ok'),
    vector(
      'report-valid',
      'A completed-playback report signed by the device key; accepted.',
      'report',
      signed('report', report, DEVICE, DEVICE_KID, { id: uuid(2), seq: 1795309860010000 }),
      'ok',
    ),
    vector(
      'report-batch-valid',
      'Two reports of one airing in a batch under one device signature ([P-3.9]); accepted. Each item keeps its own id.',
      'report-batch',
      signed(
        'report-batch',
        {
          station: 'HN-00004',
          reports: [
            { id: uuid(21), report: { ...report, kind: 'playback.started', endedAt: undefined, playedMs: undefined, level: undefined } },
            { id: uuid(22), report },
          ].map(({ id, report: r }) => ({ id, report: JSON.parse(JSON.stringify(r)) as Record<string, unknown> })),
        },
        DEVICE,
        DEVICE_KID,
        { id: uuid(23), seq: 1795309860030000 },
      ),
      'ok',
    ),
    vector(
      'manifest-ack-valid',
      'The device acknowledges manifest version 7, applied with one entry ([P-3.7]); accepted.',
      'manifest-ack',
      signed('manifest-ack', { station: 'HN-00004', version: 7, status: 'applied', entries: 1 }, DEVICE, DEVICE_KID, {
        id: uuid(24),
        seq: 1795305600010000,
      }),
      'ok',
    ),
    vector(
      'group-plan-valid',
      "Version 3 of unit 01-001's group plan, one entry that each station airs as `g0001@{station}` ([P-3.10]); accepted.",
      'group-plan',
      signed('group-plan', groupPlan, SERVER, SERVER_KID, { id: uuid(26), seq: 1795305600000026 }),
      'ok',
    ),
    vector(
      'manifest-group-plans-valid',
      'A manifest with no entries of its own that names group plan 01-001 version 3 by its hash, except nothing ([P-3.10]); accepted.',
      'manifest',
      signed(
        'manifest',
        { ...manifest, version: 8, entries: [], groupPlans: [{ unit: '01-001', version: 3, sha256: groupPlanHash(groupPlan) }] },
        SERVER,
        SERVER_KID,
        { id: uuid(27), seq: 1795305600000027 },
      ),
      'ok',
    ),
    vector(
      'manifest-ack-groups-valid',
      'The device acknowledges manifest version 8 and says it holds group plan 01-001 version 3 ([P-3.10]); accepted.',
      'manifest-ack',
      signed(
        'manifest-ack',
        { station: 'HN-00004', version: 8, status: 'applied', entries: 0, groups: [{ unit: '01-001', version: 3 }] },
        DEVICE,
        DEVICE_KID,
        { id: uuid(28), seq: 1795305600010028 },
      ),
      'ok',
    ),
    vector(
      'manifest-delta-valid',
      'A delta from version 7 to 8: one entry moved, one removed ([P-3.1.2]); accepted.',
      'manifest-delta',
      signed(
        'manifest-delta',
        {
          station: 'HN-00004',
          version: 8,
          baseVersion: 7,
          generatedAt: NOW.toISOString(),
          horizonUntil: '2026-11-29T00:00:00.000Z',
          upsert: [
            { ...manifest.entries[0], occurrenceId: 'occ-0002', startsAt: '2026-11-23T00:30:00.000Z' } as (typeof manifest.entries)[0],
          ],
          remove: ['occ-0001'],
        },
        SERVER,
        SERVER_KID,
        { id: uuid(25), seq: 1795305600000025 },
      ),
      'ok',
    ),
    vector(
      'receipt-valid',
      'A storage receipt for the report above and a refused one, signed by the server key; accepted ([P-3.8]).',
      'receipt',
      signed(
        'receipt',
        { station: 'HN-00004', stored: [uuid(2)], refused: [{ id: uuid(20), code: 'FUTURE_AIRING' }] },
        SERVER,
        SERVER_KID,
        {
          id: uuid(19),
          seq: 1795309860020000,
        },
      ),
      'ok',
    ),
    vector(
      'command-volume-valid',
      'A volume command for zone "z1"; accepted.',
      'command',
      signed('command', { action: 'volume', txn: 'txn-0001', zone: 'z1', level: 60 }, SERVER, SERVER_KID, {
        id: uuid(3),
        seq: 1795305600000003,
      }),
      'ok',
    ),
    vector(
      'reply-error-utf8-valid',
      'An error reply whose message is Vietnamese: canonical bytes are UTF-8 of the JCS text; accepted.',
      'reply',
      signed(
        'reply',
        { txn: 'txn-0002', action: 'play-now', ok: false, error: { code: 'FILE_MISSING', message: 'Không tìm thấy tệp âm thanh' } },
        DEVICE,
        DEVICE_KID,
        { id: uuid(4), seq: 1795305600000004 },
      ),
      'ok',
    ),
    vector(
      'telemetry-valid',
      'A heartbeat; accepted.',
      'telemetry',
      signed(
        'telemetry',
        {
          station: 'HN-00004',
          uptimeS: 86_400,
          agentVersion: '0.1.0',
          protocolVersions: [1],
          clockOffsetMs: -12.5,
          diskFreeBytes: 1_500_000_000,
          cache: { items: 12, bytes: 3_000_000 },
          manifestVersion: 7,
        },
        DEVICE,
        DEVICE_KID,
        { id: uuid(5), seq: 1795305600000005 },
      ),
      'ok',
    ),
    vector('tampered-body', 'The manifest above with one start time changed after signing.', 'manifest', tamperedBody, 'BAD_SIGNATURE'),
    vector(
      'tampered-expiry',
      'The manifest above with expiresAt moved a year later after signing.',
      'manifest',
      { ...good, expiresAt: '2027-11-30T00:00:00.000Z' },
      'BAD_SIGNATURE',
    ),
    vector('expired', 'A valid manifest received at its expiresAt.', 'manifest', good, 'EXPIRED', { now: '2026-11-30T00:00:00.000Z' }),
    vector('replayed-id', 'A valid manifest whose id the receiver already accepted.', 'manifest', good, 'REPLAYED', {
      receiverState: { seenIds: [uuid(1)], lastSeq: {} },
    }),
    vector(
      'stale-sequence',
      'A valid manifest whose seq is not above the last accepted from this key.',
      'manifest',
      good,
      'STALE_SEQUENCE',
      {
        receiverState: { seenIds: [], lastSeq: { [SERVER_KID]: 1795305600000000 } },
      },
    ),
    vector(
      'wrong-key',
      "Signed by another key under the server's key id; signerPublicKeyHex is the key that signed, which the receiver does not hold.",
      'manifest',
      resign(good, OTHER.privateKey),
      'BAD_SIGNATURE',
      { signedBy: OTHER },
    ),
    vector(
      'unknown-key',
      'Signed with a key id the receiver does not know.',
      'manifest',
      resign({ ...good, kid: `server:${OTHER.publicKeyHex.slice(0, 16)}` }, OTHER.privateKey),
      'UNKNOWN_KEY',
      { signedBy: OTHER },
    ),
    vector(
      'unknown-version',
      'Envelope version 2, correctly signed.',
      'manifest',
      signed('manifest', manifest, SERVER, SERVER_KID, { id: uuid(13), seq: 1795305600000013, v: 2 }),
      'UNSUPPORTED_VERSION',
    ),
    vector(
      'oversized',
      `A payload of ${LIMITS.maxPayloadBytes + 1} bytes (whitespace-padded JSON).`,
      'manifest',
      JSON.stringify(oversized) + pad,
      'TOO_LARGE',
    ),
    vector('not-json', 'A payload cut short.', 'manifest', notJson, 'MALFORMED'),
    vector('missing-signature', 'The manifest above without its sig field.', 'manifest', JSON.stringify(unsigned), 'MALFORMED'),
    vector('wrong-type', 'A valid manifest offered where a command is expected.', 'command', good, 'MALFORMED'),
    vector(
      'invalid-body',
      'Correctly signed, but the volume is 150 (0-100 allowed).',
      'command',
      signed('command', { action: 'volume', txn: 'txn-0003', level: 150 } as never, SERVER, SERVER_KID, {
        id: uuid(18),
        seq: 1795305600000018,
      }),
      'INVALID_BODY',
    ),
  ];
}

export function vectorFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const v of envelopeVectors()) files[`envelope-${v.name}.json`] = `${JSON.stringify(v, null, 2)}\n`;
  for (const v of liveVectors()) files[`${v.name}.json`] = `${JSON.stringify(v, null, 2)}\n`;
  return { ...files, ...rfcVectorFiles(), ...reportVectorFiles() };
}
