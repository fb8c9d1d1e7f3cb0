// The fixed keys and instant the vectors are made with. Public: never use them outside tests.
import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { publicKeyHex } from '../src/index.ts';

/** A fixed Ed25519 key from a label: seed = sha256(label). For vectors only. */
export function vectorKey(label: string): { privateKey: KeyObject; publicKeyHex: string } {
  const seed = createHash('sha256').update(label).digest();
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
  const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  return { privateKey, publicKeyHex: publicKeyHex(createPublicKey(privateKey)) };
}

export const NOW = new Date('2026-11-22T00:00:00.000Z');
export const SERVER = vectorKey('loaphuong vector key: server');
export const OTHER = vectorKey('loaphuong vector key: attacker');
