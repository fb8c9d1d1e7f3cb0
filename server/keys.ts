// The server's Ed25519 signing key: created on first start, stored 0600 under the data dir.
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { publicKeyHex, type Signer, wallClockSequence } from '#protocol';

export interface ServerKey {
  signer: Signer;
  publicKey: KeyObject;
  publicKeyHex: string;
}

export function loadOrCreateServerKey(dataDir: string, now: () => number): ServerKey {
  const dir = join(dataDir, 'keys');
  const file = join(dir, 'server-ed25519.pem');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!existsSync(file)) {
    const { privateKey } = generateKeyPairSync('ed25519');
    writeFileSync(file, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' });
  }
  chmodSync(file, 0o600);
  const privateKey = createPrivateKey(readFileSync(file));
  const publicKey = createPublicKey(privateKey);
  const hex = publicKeyHex(publicKey);
  return {
    signer: { kid: `server:${hex.slice(0, 16)}`, privateKey, nextSeq: wallClockSequence(now) },
    publicKey,
    publicKeyHex: hex,
  };
}
