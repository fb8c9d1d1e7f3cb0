// [P-10] checks, part 3: commands and their replies ([P-3.5], [P-3.6], [P-5.8]), and the clock offset the
// device measures against the server ([P-5.9]), whose clock the kit sets ahead of true time; and a
// reconnection after the broker drops the device ([P-1.2]).
import { randomUUID } from 'node:crypto';
import type { Kit, Seen } from './kit.ts';
import type { Results } from './results.ts';

const describeReply = (s: Seen | undefined) =>
  s ? `${JSON.stringify(s.body)}${s.verdict === 'ok' ? '' : ` (its own signature: ${s.verdict})`}` : 'no reply';

/** From the drop to its online state again: the first backoff wait (0.5–1.5 s) plus a connection's round trips, generously (a loaded machine). */
const RECONNECT_WINDOW_MS = [450, 5000];

export async function commandChecks(kit: Kit, r: Results): Promise<void> {
  /** Publishes a command and waits for the reply naming its txn. */
  const send = async (payload: string, txn: string) => {
    const from = kit.seen.length;
    await kit.publishCommand(payload);
    return kit.until(() => kit.replySince(from, txn));
  };
  const txn = () => `cf-${randomUUID().slice(0, 12)}`;
  const minute = 60_000;

  let t = txn();
  let reply = await send(kit.seal('command', { action: 'volume', txn: t, level: 80 }, { ttlMs: minute }), t);
  r.add(
    'P-3.5, P-3.6, P-5.8',
    'answers a genuine volume command once, signed, echoing txn and action, with the levels now set',
    reply?.verdict === 'ok' && reply.body.action === 'volume' && reply.body.ok === true && typeof reply.body.result?.volume === 'object',
    describeReply(reply),
  );

  const refused = async (section: string, title: string, payload: string, t: string, code: string) => {
    const got = await send(payload, t);
    return r.add(section, title, got?.verdict === 'ok' && got.body.ok === false && got.body.error?.code === code, describeReply(got));
  };
  t = txn();
  await refused(
    'P-3.6, P-4.4',
    'answers a command signed by another key with an error reply (BAD_SIGNATURE) that echoes its txn, and does not act',
    kit.seal('command', { action: 'volume', txn: t, level: 5 }, { signer: kit.signer({ rogue: true }), ttlMs: minute }),
    t,
    'BAD_SIGNATURE',
  );
  t = txn();
  await refused(
    'P-3.6, P-4.4',
    'answers an expired command with EXPIRED',
    kit.seal(
      'command',
      { action: 'volume', txn: t, level: 5 },
      { issuedAt: new Date(kit.serverNow().getTime() - 5 * minute), ttlMs: minute },
    ),
    t,
    'EXPIRED',
  );
  t = txn();
  await refused(
    'P-3.6, P-9.2',
    'answers a genuine command with an action it does not know UNKNOWN_ACTION (not INVALID_BODY)',
    kit.seal('command', { action: 'x-conformance-probe', txn: t }, { ttlMs: minute }),
    t,
    'UNKNOWN_ACTION',
  );
  t = txn();
  reply = await send(kit.seal('command', { action: 'sync-now', txn: t }, { ttlMs: minute }), t);
  r.add(
    'P-3.5',
    'answers sync-now with the manifest version it holds',
    reply?.verdict === 'ok' &&
      reply.body.ok === true &&
      reply.body.result?.manifestVersion === JSON.parse(kit.lastApplied || '{"body":{}}').body.version,
    describeReply(reply),
  );

  // [P-1.2] The broker drops the session: the device comes back on its own after the backoff's first wait.
  const from = kit.seen.length;
  const dropped = Date.now();
  kit.server.broker?.disconnect(kit.device);
  const back = await kit.until(() => kit.stateSince(from));
  const waited = Date.now() - dropped;
  const will = Boolean(kit.stateSince(from, false));
  r.add(
    'P-1.2, P-2.4',
    `reconnects on its own after a lost connection, waiting the backoff's first step (0.5–1.5 s; ${RECONNECT_WINDOW_MS.join('–')} ms allowed here), and says it is online again`,
    Boolean(back) && waited >= (RECONNECT_WINDOW_MS[0] as number) && waited <= (RECONNECT_WINDOW_MS[1] as number),
    back ? `online again ${waited} ms after the drop${will ? ' (its last-will said offline meanwhile)' : ''}` : 'never came back',
  );

  const near = (s: Seen) =>
    s.channel === 'telemetry' &&
    s.verdict === 'ok' &&
    typeof s.body?.clockOffsetMs === 'number' &&
    Math.abs(s.body.clockOffsetMs - kit.skewMs) <= 250;
  let offset = kit.seen.find(near);
  // Telemetry comes every 60 s: at most one more heartbeat.
  if (!offset) {
    await kit.clock.passTo(kit.clock.now() + 61_000);
    offset = await kit.until(() => kit.seen.find(near));
  }
  const last = kit.seen.filter((s) => s.channel === 'telemetry').at(-1);
  r.add(
    'P-5.9, P-3.4',
    `measures its clock against the server's and reports it in signed telemetry (server set ${kit.skewMs} ms ahead; ±250 ms)`,
    Boolean(offset),
    last ? `clockOffsetMs ${last.body?.clockOffsetMs}${last.verdict === 'ok' ? '' : ` (its signature: ${last.verdict})`}` : 'no telemetry',
  );
}
