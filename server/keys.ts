// The server's Ed25519 signing keys [P-4.5, P-4.7]: created on first start, stored 0600 in a 0700 directory
// under the data dir, rotated with overlap. Files in <dataDir>/keys:
//   server-ed25519.pem           the active key: signs manifests and commands
//   server-ed25519.next.pem      announced: gateways are told to trust it, nothing is signed with it yet
//   server-ed25519.previous.pem  the key before the active one, still trusted until its validUntil
//   rotation.json                when the next key was announced and the previous one retired
// Rotation: rotate() creates and announces the next key (every manifest then carries the trusted set);
// once every gateway has acknowledged a manifest carrying it, promote() makes it the active key. A gateway
// that never heard of the new key would refuse everything signed with it, hence the two steps.
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { publicKeyHex, type ServerKeyInfo, type Signer, wallClockSequence } from '#protocol';

/** How long gateways keep trusting the previous key after a promotion (commands in flight, late relays). */
export const PREVIOUS_KEY_OVERLAP_MS = 7 * 86_400_000;

interface Loaded {
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicKeyHex: string;
  kid: string;
}

interface Rotation {
  /** When the next key was announced. */
  announcedAt?: string;
  /** When the active key was promoted (the previous one retired). */
  promotedAt?: string;
  /** When the active key was created or promoted. */
  activeSince?: string;
}

const FILES = { active: 'server-ed25519.pem', next: 'server-ed25519.next.pem', previous: 'server-ed25519.previous.pem' };

export class ServerKey {
  private readonly dir: string;
  private active!: Loaded;
  private next?: Loaded;
  private previous?: Loaded;
  private state: Rotation = {};
  /** The active key's signer; replaced when a new key is promoted. */
  signer!: Signer;
  /** One sequence for every key ([P-4.3]): a gateway keeps one highest sequence for the server, so a new key continues it. */
  private readonly sequence: () => number;

  constructor(
    dataDir: string,
    private readonly now: () => number,
  ) {
    this.dir = join(dataDir, 'keys');
    this.sequence = wallClockSequence(now);
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    chmodSync(this.dir, 0o700);
    if (!existsSync(this.file('active'))) {
      this.create('active');
      this.state.activeSince = new Date(now()).toISOString();
      this.saveState();
    }
    this.load();
  }

  get publicKey(): KeyObject {
    return this.active.publicKey;
  }

  get publicKeyHex(): string {
    return this.active.publicKeyHex;
  }

  /** Every key gateways should trust now: the active one, the announced next one, the previous one until it expires. */
  trusted(): ServerKeyInfo[] {
    const at = this.now();
    const since = this.state.activeSince ?? new Date(0).toISOString();
    const out: ServerKeyInfo[] = [{ kid: this.active.kid, publicKeyHex: this.active.publicKeyHex, validFrom: since }];
    if (this.next) out.push({ kid: this.next.kid, publicKeyHex: this.next.publicKeyHex, validFrom: this.state.announcedAt ?? since });
    const until = this.state.promotedAt ? Date.parse(this.state.promotedAt) + PREVIOUS_KEY_OVERLAP_MS : 0;
    if (this.previous && until > at)
      out.push({
        kid: this.previous.kid,
        publicKeyHex: this.previous.publicKeyHex,
        validFrom: new Date(0).toISOString(),
        validUntil: new Date(until).toISOString(),
      });
    return out;
  }

  status() {
    return {
      active: this.active.kid,
      activeSince: this.state.activeSince ?? null,
      next: this.next?.kid ?? null,
      announcedAt: this.state.announcedAt ?? null,
      previous: this.previous?.kid ?? null,
      promotedAt: this.state.promotedAt ?? null,
    };
  }

  /** Creates and stores the next key; the caller then publishes manifests that announce it. */
  rotate(): void {
    if (this.next) throw new Error('a rotation is already under way');
    this.create('next');
    this.state.announcedAt = new Date(this.now()).toISOString();
    this.saveState();
    this.load();
  }

  /** The announced key becomes the active one; the active one becomes the previous (trusted for the overlap). */
  promote(): void {
    if (!this.next) throw new Error('no key has been announced');
    rmSync(this.file('previous'), { force: true });
    renameSync(this.file('active'), this.file('previous'));
    renameSync(this.file('next'), this.file('active'));
    const at = new Date(this.now()).toISOString();
    this.state = { promotedAt: at, activeSince: at };
    this.saveState();
    this.load();
  }

  private file(which: keyof typeof FILES): string {
    return join(this.dir, FILES[which]);
  }

  private create(which: keyof typeof FILES): void {
    const { privateKey } = generateKeyPairSync('ed25519');
    writeFileSync(this.file(which), privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' });
  }

  private read(which: keyof typeof FILES): Loaded | undefined {
    const file = this.file(which);
    if (!existsSync(file)) return undefined;
    chmodSync(file, 0o600);
    const privateKey = createPrivateKey(readFileSync(file));
    const publicKey = createPublicKey(privateKey);
    const hex = publicKeyHex(publicKey);
    return { privateKey, publicKey, publicKeyHex: hex, kid: `server:${hex.slice(0, 16)}` };
  }

  private load(): void {
    const stateFile = join(this.dir, 'rotation.json');
    this.state = existsSync(stateFile) ? (JSON.parse(readFileSync(stateFile, 'utf8')) as Rotation) : {};
    const active = this.read('active') as Loaded;
    if (active.kid !== this.active?.kid) this.signer = { kid: active.kid, privateKey: active.privateKey, nextSeq: this.sequence };
    this.active = active;
    this.next = this.read('next');
    this.previous = this.read('previous');
  }

  private saveState(): void {
    writeFileSync(join(this.dir, 'rotation.json'), JSON.stringify(this.state, null, 2), { mode: 0o600 });
  }
}

export function loadOrCreateServerKey(dataDir: string, now: () => number): ServerKey {
  return new ServerKey(dataDir, now);
}
