// Server trust: enrollment ([P-5.1]), the trusted server key set ([P-4.7]) and the replay memory
// ([P-4.3]). The agent keeps the memory in its durable state; the simulator keeps it in memory. Both
// open every server message here, so they accept and refuse exactly the same messages.
import type { KeyObject } from 'node:crypto';
import {
  type BodyType,
  type EnrollRequest,
  EnrollResponse,
  type Envelope,
  type GroupPlan,
  type HeldPlans,
  open,
  publicKeyFromHex,
} from '#protocol';
import type * as z from '#protocol/zod';
import type { Fetch } from './cache.ts';

/** How many accepted server message ids are remembered against replay ([P-4.3]). */
export const SEEN_IDS = 256;

/** What trust remembers; the agent's state has this shape, so it is kept durable with it. */
export interface TrustMemory {
  serverKeys: { kid: string; publicKeyHex: string; validUntil?: string }[];
  /** Ids of server messages accepted recently (bounded). */
  seenIds: string[];
  /** Highest envelope sequence accepted from the server, over manifests and commands. */
  lastSeq: number;
  /** The envelope id of the manifest applied now. */
  manifestId?: string;
}

export const emptyTrustMemory = (): TrustMemory => ({ serverKeys: [], seenIds: [], lastSeq: -1 });

export class ServerTrust {
  private keys = new Map<string, { key: KeyObject; validUntil?: number }>();

  constructor(
    private readonly memory: TrustMemory,
    private readonly now: () => number,
  ) {
    this.trust(memory.serverKeys);
  }

  /** Trusts exactly these server keys (a key past its validUntil is refused at use). */
  trust(keys: TrustMemory['serverKeys']): void {
    this.memory.serverKeys = keys.map(({ kid, publicKeyHex, validUntil }) => ({
      kid,
      publicKeyHex,
      ...(validUntil ? { validUntil } : {}),
    }));
    this.keys = new Map(
      keys.map((k) => [k.kid, { key: publicKeyFromHex(k.publicKeyHex), validUntil: k.validUntil ? Date.parse(k.validUntil) : undefined }]),
    );
  }

  /**
   * A rotation is announced in a signed manifest: its key set replaces ours, provided it still holds the
   * key that signed it (a set without it would lock the gateway out of everything that follows).
   */
  adopt(envelope: Envelope, keys: TrustMemory['serverKeys'] | undefined): void {
    if (keys?.some((k) => k.kid === envelope.kid)) this.trust(keys);
  }

  /** A trusted server key by kid, unless past its validUntil. */
  readonly key = (kid: string): KeyObject | undefined => {
    const k = this.keys.get(kid);
    return k && (k.validUntil === undefined || k.validUntil > this.now()) ? k.key : undefined;
  };

  /** Verifies a server message, refusing replays and stale sequences; the caller calls remember() after acting. */
  open<T extends BodyType>(payload: Buffer, type: T) {
    const m = this.memory;
    const guard = {
      hasSeen: (id: string) => id === m.manifestId || m.seenIds.includes(id),
      lastSeq: () => m.lastSeq,
      remember: (envelope: Envelope) => this.remember(envelope),
    };
    return open(payload, type, { keys: this.key, now: new Date(this.now()), guard });
  }

  /** Verifies a message that may come twice and say the same (a receipt): no replay or sequence check. */
  openIdempotent<T extends BodyType>(payload: Buffer, type: T) {
    return open(payload, type, { keys: this.key, now: new Date(this.now()) });
  }

  /**
   * [P-3.10] A unit's group plan from its topic, verified as [P-4.4] says but for the replay and sequence
   * steps: its version is its replay guard. A refusal has a code; undefined is a version no newer than held.
   */
  openGroupPlan(payload: Buffer, unit: string, held: HeldPlans): { plan: GroupPlan } | { code: string } | undefined {
    const opened = this.openIdempotent(payload, 'group-plan');
    if (!opened.ok) return { code: opened.code };
    if (opened.body.unit !== unit) return { code: 'UNIT_MISMATCH' };
    if ((held[unit]?.version ?? 0) >= opened.body.version) return undefined;
    return { plan: opened.body };
  }

  remember(envelope: Envelope): void {
    const m = this.memory;
    m.seenIds = [...m.seenIds, envelope.id].slice(-SEEN_IDS);
    m.lastSeq = Math.max(m.lastSeq, envelope.seq);
  }

  /** Records the manifest applied now (its id is refused as a replay from then on). */
  applied(envelope: Envelope): void {
    this.memory.manifestId = envelope.id;
    this.remember(envelope);
  }

  /** Whether a refused payload is the manifest applied now, met again (the retained copy at each reconnect). */
  isApplied(payload: Buffer): boolean {
    return this.memory.manifestId !== undefined && claimed(payload).id === this.memory.manifestId;
  }
}

/** [P-5.1] Spends the one-time token: the server records the gateway's public key and answers with MQTT credentials and its keys. */
export async function enroll(
  deps: { fetch: Fetch; serverUrl: string },
  request: z.input<typeof EnrollRequest>,
): Promise<z.infer<typeof EnrollResponse>> {
  const url = `${deps.serverUrl}/api/v1/gateway/enroll`;
  const post = () => deps.fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(request) });
  // Once more on a new connection when the first died before any answer (a kept-alive socket the server had
  // just closed): a request that did reach the server is answered "token used" the second time, never twice.
  const res = await post()
    .catch(post)
    .catch((err: Error) => {
      throw new Error(`cannot reach the server at ${url}: ${(err.cause as Error | undefined)?.message ?? err.message}`);
    });
  if (!res.ok) throw new Error(`enrollment at ${url} answered ${res.status}: ${await res.text()}`);
  const parsed = EnrollResponse.safeParse(await res.json());
  if (!parsed.success) throw new Error(`enrollment answer is malformed: ${parsed.error.message}`);
  return parsed.data;
}

/** The id and version a refused manifest claims, read without trusting them (version 0 when unreadable). */
export function claimed(payload: Buffer): { id?: string; version: number } {
  try {
    const env = JSON.parse(payload.toString('utf8')) as { id?: unknown; body?: { version?: unknown } };
    const v = env.body?.version;
    return {
      ...(typeof env.id === 'string' ? { id: env.id } : {}),
      version: Number.isInteger(v) && (v as number) >= 0 ? (v as number) : 0,
    };
  } catch {
    return { version: 0 };
  }
}
