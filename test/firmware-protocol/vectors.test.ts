// The TypeScript implementation against every checked-in vector, and the checked-in schemas and
// vectors against what the zod definitions and fixed keys generate now.
import { createHash, createPrivateKey, sign, verify } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import {
  canonicalBytes,
  canonicalJson,
  decodeLiveFrame,
  type Envelope,
  open,
  publicKeyFromHex,
  publicKeyHex,
  type ReplayGuard,
} from '#protocol';
import { type LiveVector, schemaFiles, type Vector, vectorFiles } from '../../firmware-protocol/tools/artifacts.ts';
import type { RFC8032_ED25519, RFC8785_JCS } from '../../firmware-protocol/tools/rfc-vectors.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../firmware-protocol');
const read = (dir: string) =>
  Object.fromEntries(
    readdirSync(join(root, dir))
      .filter((f) => f.endsWith('.json'))
      .map((f) => [f, readFileSync(join(root, dir, f), 'utf8')]),
  );

t.test('every envelope vector gets its expected verdict', async (t) => {
  const files = Object.entries(read('vectors')).filter(([f]) => f.startsWith('envelope-'));
  t.ok(files.length >= 15, `${files.length} envelope vectors`);
  const verdicts = new Set<string>();
  for (const [file, text] of files) {
    const v = JSON.parse(text) as Vector;
    const keys = new Map(Object.entries(v.keys).map(([kid, hex]) => [kid, publicKeyFromHex(hex)]));
    const seen = new Set(v.receiverState.seenIds);
    const guard: ReplayGuard = { hasSeen: (id) => seen.has(id), lastSeq: (kid) => v.receiverState.lastSeq[kid], remember: () => {} };
    const r = open(Buffer.from(v.payload, 'utf8'), v.expectedType, { keys: (kid) => keys.get(kid), now: new Date(v.now), guard });
    t.equal(r.ok ? 'ok' : r.code, v.expected, `${file}: ${v.description}`);
    verdicts.add(v.expected);
    if (v.canonicalHex && v.signatureHex && v.signerPublicKeyHex && v.expected === 'ok') {
      const env = JSON.parse(v.payload) as Envelope;
      t.equal(canonicalBytes(env).toString('hex'), v.canonicalHex, `${file}: canonical bytes`);
      t.ok(
        verify(null, Buffer.from(v.canonicalHex, 'hex'), publicKeyFromHex(v.signerPublicKeyHex), Buffer.from(v.signatureHex, 'hex')),
        `${file}: raw signature`,
      );
    }
    if (v.expected === 'BAD_SIGNATURE' && v.canonicalHex && v.signatureHex && v.signerPublicKeyHex) {
      // A message changed after signing no longer verifies under its signer's key; a forgery verifies under the
      // key that made it, which is not the one the receiver holds for that key id.
      const holds = verify(
        null,
        Buffer.from(v.canonicalHex, 'hex'),
        publicKeyFromHex(v.signerPublicKeyHex),
        Buffer.from(v.signatureHex, 'hex'),
      );
      const held = v.keys[(JSON.parse(v.payload) as Envelope).kid];
      if (file === 'envelope-wrong-key.json')
        t.ok(holds && held !== v.signerPublicKeyHex, `${file}: signerPublicKeyHex is the key that signed`);
      else t.notOk(holds, `${file}: changed after signing`);
    }
  }
  for (const code of [
    'ok',
    'BAD_SIGNATURE',
    'EXPIRED',
    'REPLAYED',
    'STALE_SEQUENCE',
    'UNKNOWN_KEY',
    'UNSUPPORTED_VERSION',
    'TOO_LARGE',
    'MALFORMED',
    'INVALID_BODY',
  ]) {
    t.ok(verdicts.has(code), `a vector covers ${code}`);
  }
});

t.test('every live-frame vector gets its expected verdict and decodes as stated', async (t) => {
  const files = Object.entries(read('vectors')).filter(([f]) => f.startsWith('live-'));
  t.ok(files.length >= 4);
  for (const [file, text] of files) {
    const v = JSON.parse(text) as LiveVector;
    const r = decodeLiveFrame(Buffer.from(v.frameHex, 'hex'), publicKeyFromHex(v.publicKeyHex));
    t.equal(r.ok ? 'ok' : r.code, v.expected, file);
    if (r.ok && v.decoded)
      t.same({ ...r.frame, payload: undefined, payloadHex: r.frame.payload.toString('hex') }, { ...v.decoded, payload: undefined });
  }
});

t.test('independent vectors: RFC 8032 Ed25519 and RFC 8785 canonical JSON, as the RFCs publish them', async (t) => {
  const ed = JSON.parse(read('vectors')['rfc8032-ed25519.json'] as string) as typeof RFC8032_ED25519;
  t.equal(ed.length, 3);
  for (const v of ed) {
    const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(v.secretKeyHex, 'hex')]);
    const key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    t.equal(publicKeyHex(key), v.publicKeyHex, `${v.name}: public key`);
    t.equal(sign(null, Buffer.from(v.messageHex, 'hex'), key).toString('hex'), v.signatureHex, `${v.name}: signature`);
    t.ok(verify(null, Buffer.from(v.messageHex, 'hex'), publicKeyFromHex(v.publicKeyHex), Buffer.from(v.signatureHex, 'hex')));
  }
  const jcs = JSON.parse(read('vectors')['rfc8785-jcs.json'] as string) as typeof RFC8785_JCS;
  t.equal(jcs.length, 3);
  for (const v of jcs) t.equal(canonicalJson(JSON.parse(v.input)), v.canonical, v.name);
});

t.test('the checked-in JSON Schemas match the zod definitions (run npm run protocol:generate)', async (t) => {
  t.same(read('schemas'), schemaFiles());
});

t.test('the checked-in vectors match what the fixed keys generate (run npm run protocol:generate)', async (t) => {
  const digest = (files: Record<string, string>) =>
    Object.fromEntries(Object.entries(files).map(([f, c]) => [f, createHash('sha256').update(c).digest('hex')]));
  t.same(digest(read('vectors')), digest(vectorFiles()));
});
