// [P-10] checks, part 1: enrollment, availability, subscriptions, and manifest verification. Each refused
// manifest is followed by a genuine one (the barrier): MQTT keeps order on one topic and session, so once
// the barrier's ack has come, every ack the refused one would get has come too; no check waits on a timer.
import { commandTopic, groupCommandTopic, LIMITS, liveTopic, type ManifestEntry, manifestTopic, receiptTopic } from '#protocol';
import type { Kit, Seen } from './kit.ts';
import type { Results } from './results.ts';

const describeAck = (a: Seen) =>
  `ack v${a.body?.version} ${a.body?.status ?? '?'}${a.body?.code ? ` ${a.body.code}` : ''}${a.verdict === 'ok' ? '' : ` (its own signature: ${a.verdict})`}`;

/** Runs the checks; false when the device never enrolled (nothing else can run). */
export async function manifestChecks(kit: Kit, r: Results, plan: ManifestEntry[]): Promise<boolean> {
  const launched = await kit.launch();
  r.add('P-5.1, P-6.4', 'enrolls with its one-time token and a key of its own', launched.enrolled, launched.observed);
  if (!launched.enrolled) return false;

  const state = await kit.until(() => kit.stateSince());
  r.add(
    'P-2.4',
    'says it is online on its retained state topic, with its station and protocol versions',
    state?.body?.station === kit.station && Array.isArray(state.body.protocolVersions) && state.body.protocolVersions.includes(1),
    state ? JSON.stringify(state.body) : 'no state message',
  );

  const want = [
    manifestTopic(kit.device),
    commandTopic(kit.device),
    receiptTopic(kit.device),
    ...kit.groups.flatMap((u) => [groupCommandTopic(u), liveTopic(u)]),
  ];
  const subscribed = await kit.until(() => {
    const has = kit.subscriptions.get(kit.device);
    return has && want.every((w) => has.has(w)) ? has : undefined;
  });
  const has = kit.subscriptions.get(kit.device) ?? new Set<string>();
  r.add(
    'P-2.5',
    'subscribes to its manifest, cmd and receipt topics and to cmd and live of each of its units',
    Boolean(subscribed),
    subscribed ? [...has].join(', ') : `missing: ${want.filter((w) => !has.has(w)).join(', ')}`,
  );

  const first = await kit.applied(plan);
  r.add(
    'P-3.7, P-5.2',
    'applies a genuine manifest and acknowledges it applied, signed with its key, with its entry count',
    first.ack?.verdict === 'ok' && first.ack.body.station === kit.station && first.ack.body.entries === plan.length,
    first.ack ? `${describeAck(first.ack)}, entries ${first.ack.body.entries} of ${plan.length}` : `no applied ack for v${first.version}`,
  );
  if (!first.ack) return true;

  /** Publishes a manifest the device must refuse, then the barrier; judges the acks in between. */
  const refused = async (section: string, title: string, payload: string, version: number, expect: string | null) => {
    const from = kit.seen.length;
    await kit.publishManifest(payload);
    const barrier = await kit.applied(plan);
    if (!barrier.ack) return r.add(section, title, false, `the genuine manifest after it (v${barrier.version}) was never acknowledged`);
    const acks = kit.acksSince(from).filter((a) => a !== barrier.ack && !(a.body?.version === barrier.version));
    const ok =
      expect === null
        ? acks.length === 0
        : acks.length === 1 &&
          acks[0]?.verdict === 'ok' &&
          acks[0].body.status === 'rejected' &&
          acks[0].body.code === expect &&
          (acks[0].body.version === version || (expect === 'TOO_LARGE' && acks[0].body.version === 0));
    const said = acks.length ? acks.map(describeAck).join('; ') : 'no acknowledgement';
    return r.add(section, title, ok, `${said}; the genuine v${barrier.version} after it applied`);
  };

  const body = (version: number, extra: Record<string, unknown> = {}) => kit.manifestBody(version, plan, extra);
  const week = 8 * 86_400_000;
  let v = kit.nextVersion();
  await refused(
    'P-4.4',
    'refuses a manifest signed by another key under the server key id (BAD_SIGNATURE), and acknowledges the refusal',
    kit.seal('manifest', body(v), { signer: kit.signer({ rogue: true }), ttlMs: week }),
    v,
    'BAD_SIGNATURE',
  );
  v = kit.nextVersion();
  const tampered = JSON.parse(kit.seal('manifest', body(v), { ttlMs: week }));
  tampered.body.entries = [];
  await refused('P-4.4', 'refuses a genuine manifest altered after signing (BAD_SIGNATURE)', JSON.stringify(tampered), v, 'BAD_SIGNATURE');
  v = kit.nextVersion();
  await refused(
    'P-4.4, P-4.5',
    'refuses a manifest under a key id it was never given (UNKNOWN_KEY)',
    kit.seal('manifest', body(v), { signer: kit.signer({ rogue: true, rogueKid: 'server:0123456789abcdef' }), ttlMs: week }),
    v,
    'UNKNOWN_KEY',
  );
  v = kit.nextVersion();
  const past = new Date(kit.serverNow().getTime() - 2 * 3600_000);
  await refused(
    'P-4.4, P-4.6',
    'refuses a manifest past its expiresAt (EXPIRED)',
    kit.seal('manifest', body(v), { issuedAt: past, ttlMs: 3600_000 }),
    v,
    'EXPIRED',
  );
  v = kit.nextVersion();
  await refused(
    'P-3.1.1, P-3.7',
    'refuses a genuine manifest for another station (WRONG_STATION)',
    kit.seal('manifest', { ...body(v), station: 'HN-99999' }, { ttlMs: week }),
    v,
    'WRONG_STATION',
  );
  v = kit.nextVersion();
  const big = body(v);
  const size = Buffer.byteLength(kit.seal('manifest', big, { ttlMs: week }));
  await refused(
    'P-4.4, P-7',
    `refuses a payload over ${LIMITS.maxPayloadBytes} bytes (TOO_LARGE; acknowledged with its version, or 0 when unread)`,
    kit.seal('manifest', { ...big, padding: 'x'.repeat(LIMITS.maxPayloadBytes - size + 64) }, { ttlMs: week }),
    v,
    'TOO_LARGE',
  );
  v = kit.nextVersion();
  await refused(
    'P-4.3, P-3.7',
    'refuses a genuine manifest whose seq is not above the last accepted (STALE_SEQUENCE), without acknowledging it',
    kit.seal('manifest', body(v), { signer: kit.signer({ seq: 1 }), ttlMs: week }),
    v,
    null,
  );
  await refused(
    'P-4.3, P-3.7',
    'refuses an older manifest it applied before when it comes again (REPLAYED), without acknowledging it',
    first.payload,
    first.version,
    null,
  );
  const last = kit.lastApplied;
  const lastVersion = JSON.parse(last).body.version as number;
  const from = kit.seen.length;
  await kit.publishManifest(last, true);
  const again = await kit.until(() => kit.acksSince(from).find((a) => a.body?.version === lastVersion));
  r.add(
    'P-3.7, P-4.3',
    'acknowledges the manifest it applied last again when it comes again (the retained copy at a reconnect)',
    again?.verdict === 'ok' && again.body.status === 'applied',
    again ? describeAck(again) : `no ack for v${lastVersion}`,
  );
  return true;
}
