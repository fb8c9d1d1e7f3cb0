// Fuzzing every input the outside world can reach: each API route the server publishes in its OpenAPI
// document, each MQTT handler of the server, and the gateway agent's manifest and command handlers.
// Random bytes, random JSON, envelope-shaped messages with random fields, and messages validly signed by
// the gateway's own key but carrying random bodies. The claims: nothing crashes or answers 5xx, and a
// refused input writes nothing (besides its audit record).
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import fc from 'fast-check';
import t from 'tap';
import { manifestTopic, seal } from '#protocol';
import { onlineAgent } from '../helpers/agent.ts';
import { makeTone } from '../helpers/audio.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { onPostgres, scheduleItem, sendCommand, startTestServer, untilAcked, untilEvent, uploadApproved } from '../helpers/server.ts';

const clock = new FakeClock(Date.now());
const server = await startTestServer({ now: clock.date });
t.teardown(() => server.stop());
/** Fixed seeds: a failure names its seed and path, and the run is the same on every machine. */
const SEED = 20261123;

/**
 * Rows changed since the server opened its database: SQLite's total_changes() of the server's connection, or on
 * PostgreSQL a count kept by a row trigger on every table (installed here, for this test's database alone).
 */
const changes = async () =>
  Number(
    (await server.db.$queryRawUnsafe<{ n: bigint }[]>(onPostgres ? 'SELECT "n" FROM lp_changes' : 'SELECT total_changes() AS n'))[0]?.n,
  );
if (onPostgres) {
  await server.db.$executeRawUnsafe('CREATE TABLE lp_changes ("n" bigint NOT NULL)');
  await server.db.$executeRawUnsafe('INSERT INTO lp_changes VALUES (0)');
  await server.db.$executeRawUnsafe(
    `CREATE FUNCTION lp_count_change() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN UPDATE lp_changes SET "n" = "n" + 1; RETURN NULL; END'`,
  );
  const tables = await server.db.$queryRawUnsafe<{ name: string }[]>(
    `SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' AND tablename NOT IN ('lp_changes', '_prisma_migrations')`,
  );
  for (const { name } of tables)
    await server.db.$executeRawUnsafe(
      `CREATE TRIGGER lp_count AFTER INSERT OR UPDATE OR DELETE ON "${name}" FOR EACH ROW EXECUTE FUNCTION lp_count_change()`,
    );
}
/** Audit rows, and the units they name. */
const records = async () => ({
  rows: await server.db.auditEvent.count(),
  units: await server.db.auditEventUnit.count(),
  // A refused request by nobody signed in is counted here instead (one row written per request, added up).
  refused: (await server.db.refusedRequest.aggregate({ _sum: { count: true } }))._sum.count ?? 0,
});

/** Hostile strings: traversal, injection, control bytes, huge, unicode, numbers in disguise. */
const hostile = fc.oneof(
  fc.constantFrom('../../etc/passwd', "' OR 1=1 --", '"; DROP TABLE "User"; --', '\u0000', '%00', 'NaN', '-1', '1e309', '{}', '[]'),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ minLength: 300, maxLength: 3000 }),
);
const value = fc.oneof(fc.jsonValue({ maxDepth: 3 }), hostile);

type Operation = { method: string; path: string; params: string[]; body: boolean; multipart: boolean; bodyKeys: string[] };
const doc = (await (await fetch(`${server.url}/docs/json`)).json()) as {
  paths: Record<
    string,
    Record<string, { requestBody?: { content?: Record<string, { schema?: { properties?: Record<string, unknown> } }> } }>
  >;
};
const operations: Operation[] = Object.entries(doc.paths).flatMap(([path, methods]) =>
  Object.entries(methods).map(([method, op]) => {
    const content = op.requestBody?.content ?? {};
    return {
      method: method.toUpperCase(),
      path,
      params: [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string),
      body: Boolean(op.requestBody),
      multipart: 'multipart/form-data' in content,
      bodyKeys: Object.keys(content['application/json']?.schema?.properties ?? {}),
    };
  }),
);
// Logging out would end the session the fuzzer uses; it takes no input but the token.
const fuzzed = operations.filter((o) => !o.path.endsWith('/auth/logout') && o.path.startsWith('/api/v1'));

t.test('every API route: random and malformed input gets a 4xx with a code, never a 5xx, and a refusal writes nothing', async (t) => {
  t.ok(fuzzed.length >= 40, `${fuzzed.length} operations from the OpenAPI document`);
  const body = (keys: string[]) =>
    fc.oneof(
      value.map((v) => JSON.stringify(v)),
      fc.string({ maxLength: 200 }), // not JSON at all
      keys.length ? fc.dictionary(fc.constantFrom(...keys), value).map((v) => JSON.stringify(v)) : fc.constant('{}'),
    );
  const seen = new Map<string, number>();
  let requests = 0;
  for (const op of fuzzed) {
    const request = fc.record({
      params: fc.tuple(...op.params.map(() => hostile), fc.constant('')),
      query: fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }), fc.string({ maxLength: 50 }), { maxKeys: 4 }),
      body: body(op.bodyKeys),
      type: fc.constantFrom('application/json', op.multipart ? 'multipart/form-data; boundary=x' : 'text/plain', 'application/json'),
    });
    for (const r of fc.sample(request, { numRuns: 25, seed: SEED })) {
      let path = op.path;
      op.params.forEach((p, i) => {
        path = path.replace(`{${p}}`, encodeURIComponent(r.params[i] as string) || 'x');
      });
      const url = `${server.url}${path}?${new URLSearchParams(r.query)}`;
      // Refused anonymous requests are counted in memory and added every few seconds: add them now, not mid-request.
      await server.refused.flush();
      const before = await changes();
      const recordsBefore = await records();
      const res = await fetch(url, {
        method: op.method,
        headers: { ...server.auth, ...(op.body ? { 'content-type': r.type } : {}) },
        ...(op.body && op.method !== 'GET' ? { body: r.body } : {}),
      });
      // An event stream (GET /live) never ends by itself: its answer is its status and headers.
      const streaming = res.ok && res.headers.get('content-type')?.startsWith('text/event-stream');
      if (streaming) await res.body?.cancel();
      const text = streaming ? '' : await res.text();
      requests += 1;
      const where = `${op.method} ${path.slice(0, 120)} (${r.type}) ${r.body.slice(0, 80)}`;
      if (res.status >= 500) t.fail(`${res.status} from ${where}: ${text.slice(0, 300)}`);
      seen.set(String(res.status), (seen.get(String(res.status)) ?? 0) + 1);
      if (res.status >= 400) {
        const code = (JSON.parse(text || '{}') as { error?: { code?: string } }).error?.code;
        if (!code || !/^[A-Z_]+$/.test(code)) t.fail(`no stable error code from ${where}: ${text.slice(0, 200)}`);
        // A refused request leaves its audit record (mutations and evidence reads: one row, and the units it
        // names) and nothing else.
        // Its count of refused requests is added now, not by the timer in the middle of the next request.
        await server.refused.flush();
        const after = await records();
        const written =
          (await changes()) -
          before -
          (after.rows - recordsBefore.rows) -
          (after.units - recordsBefore.units) -
          (after.refused - recordsBefore.refused);
        if (written > 0 || after.rows - recordsBefore.rows > 1) t.fail(`${written} rows written by a refused ${where}`);
      }
    }
  }
  t.ok(requests >= 1000, `${requests} requests, answers by status: ${JSON.stringify(Object.fromEntries(seen))}`);
  const health = await fetch(`${server.url}/health`);
  t.equal(health.status, 200, 'the server still answers');
});

t.test('every MQTT handler, and the agent’s: random and forged messages are refused without a write', async (t) => {
  const station = 'HN-00019';
  const { body: media } = await uploadApproved(server, makeTone(join(server.dataDir, 'fuzz.wav'), { seconds: 1 }));
  await scheduleItem(server, media.id, station, clock.now() + 3600_000);
  const gw = await onlineAgent(t, { station, server, clock });
  // Settled first: the gateway's manifest acknowledged and its telemetry stored, so nothing legitimate moves.
  await untilAcked(
    server,
    async () => (await server.db.manifestDelivery.count({ where: { station: { code: station }, status: 'delivered' } })) > 0,
  );
  await gw.waitFor('telemetry');
  await untilEvent(server.reports.events, 'telemetry', async () =>
    Boolean((await server.db.station.findUniqueOrThrow({ where: { code: station } })).telemetryAt),
  );
  await server.reports.drain();
  const { ctx: agent, rooms } = gw.agent.inspect();
  const device = agent.device;

  // Messages signed with the gateway's real key but carrying random bodies; and envelopes with random fields.
  const types = ['report', 'telemetry', 'manifest-ack', 'reply', 'manifest', 'manifest-delta', 'command'] as const;
  const signed = fc
    .record({ type: fc.constantFrom(...types), body: fc.jsonValue({ maxDepth: 3 }) })
    .map(({ type, body }) => JSON.stringify(seal(type as never, body as never, agent.signer, { now: clock.date(), ttlMs: 60_000 })));
  const shaped = fc
    .record({
      v: fc.oneof(fc.constant(1), fc.integer()),
      type: fc.oneof(fc.constantFrom(...types), fc.string()),
      id: fc.oneof(fc.uuid(), fc.string()),
      seq: fc.integer(),
      issuedAt: fc.oneof(fc.constant(clock.date().toISOString()), fc.string()),
      expiresAt: fc.oneof(fc.constant(new Date(clock.now() + 60_000).toISOString()), fc.string()),
      kid: fc.oneof(fc.constant(agent.signer.kid), fc.string()),
      body: fc.jsonValue({ maxDepth: 3 }),
      sig: fc.oneof(fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 128, maxLength: 128 }), fc.string()),
    })
    .map((e) => JSON.stringify(e));
  const payload = fc.oneof(
    fc.uint8Array({ maxLength: 2048 }).map((b) => Buffer.from(b)),
    fc.jsonValue({ maxDepth: 4 }).map((v) => Buffer.from(JSON.stringify(v))),
    shaped.map((s) => Buffer.from(s)),
    signed.map((s) => Buffer.from(s)),
  );
  const payloads = fc.sample(payload, { numRuns: 400, seed: SEED });

  const fingerprint = async () => {
    const out: Record<string, string> = {};
    for (const table of ['PlaybackReport', 'Occurrence', 'Station', 'StationEvent', 'Alert', 'ManifestDelivery', 'Device'])
      out[table] = createHash('sha256')
        .update(
          JSON.stringify(await server.db.$queryRawUnsafe(`SELECT * FROM "${table}" ORDER BY ${onPostgres ? 'ctid' : 'rowid'}`), (_k, v) =>
            typeof v === 'bigint' ? String(v) : v,
          ),
        )
        .digest('hex');
    return out;
  };
  const before = await fingerprint();
  const handlers: [string, (p: Buffer) => Promise<unknown>][] = [
    ['report', (p) => server.reports.handleReport(device, p)],
    ['telemetry', (p) => server.reports.handleTelemetry(device, p)],
    ['state', (p) => server.reports.handleState(device, p)],
    ['ack', (p) => server.dispatch.handleAck(device, p)],
    ['reply', (p) => server.commands.handleReply(device, p)],
  ];
  for (const [name, handle] of handlers) {
    const outcomes = await Promise.all(
      payloads.map((p) =>
        handle(p).then(
          (o) => o ?? 'handled',
          (err: Error) => `threw ${err.message}`,
        ),
      ),
    );
    const thrown = outcomes.filter((o) => String(o).startsWith('threw'));
    t.same(thrown, [], `${name}: ${payloads.length} messages, none throws`);
    if (name === 'report' || name === 'telemetry')
      t.ok(
        outcomes.every((o) => o === 'rejected'),
        `${name}: every one refused`,
      );
  }
  await server.reports.drain();
  t.same(await fingerprint(), before, 'no proof, verdict, station, event, alert, delivery or device row changed');

  // The gateway: its state (manifest, sequence, volume, seen ids) is untouched by what it refuses.
  const agentBefore = JSON.stringify(agent.state);
  for (const p of payloads) {
    await rooms.sync.onManifest(p).catch((err: Error) => t.fail(`manifest handler threw ${err.message}`));
    await rooms.commands.onCommand(p).catch((err: Error) => t.fail(`command handler threw ${err.message}`));
  }
  t.equal(JSON.stringify(agent.state), agentBefore, 'the agent state is unchanged');

  // The same garbage over real MQTT, to the gateway's manifest topic (as a compromised broker would deliver
  // it) and from the gateway to its own channels: both sides stay up and keep working.
  const { connectAsync } = await import('mqtt');
  const attacker = await connectAsync(server.mqttUrl, { ...server.brokerLogin, clientId: 'fuzz-attacker', reconnectPeriod: 0 });
  for (const p of payloads.slice(0, 100)) await attacker.publishAsync(manifestTopic(device), p, { qos: 1 });
  await attacker.endAsync();
  const reply = await sendCommand(server, station, { action: 'self-test' });
  t.match(reply, { status: 200, body: { ok: true } }, 'the agent still answers a real command');
  t.equal((await fetch(`${server.url}/health`)).status, 200, 'the server still answers');
});
