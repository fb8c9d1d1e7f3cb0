// The conformance kit ([P-10], `npm run conformance`) against our own agent, which passes every check, and
// against a broken double of it that skips signature checks, which fails exactly the checks that forge a
// signature. Both run on one fake clock shared by the kit's server and the agent.
import t from 'tap';
import type { Agent } from '../../edge-agent/agent.ts';
import { createGatewayAgent } from '../../edge-agent/wire.ts';
import type { LaunchEnv } from '../../server/conformance/kit.ts';
import { runConformance } from '../../server/conformance/run.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { scratchDir } from '../helpers/scratch.ts';
import { onPostgres } from '../helpers/server.ts';

const quiet = { info() {}, warn() {} };

/** Runs the kit against an agent on a fake clock; `tamper` may change the agent once started. */
async function conformance(tamper?: (agent: Agent) => void) {
  const clock = new FakeClock(Date.now());
  // The same storage at each launch: the kit restarts the gateway once.
  const dataDir = scratchDir('loaphuong-dut-');
  const launch = async (env: LaunchEnv) => {
    const agent = createGatewayAgent({
      enrollToken: env.enrollToken,
      dataDir,
      serverUrl: env.serverUrl,
      mqttUrl: env.mqttUrl,
      clock,
      zones: { z1: { kind: 'null' } },
      log: quiet,
    });
    await agent.start();
    tamper?.(agent);
    return { stop: () => agent.stop() };
  };
  return runConformance({
    launch,
    dataDir: scratchDir('loaphuong-conformance-'),
    clock: { now: clock.now, passTo: async (at) => clock.advanceTo(at) },
  });
}

const summary = (list: Awaited<ReturnType<typeof conformance>>) =>
  list.map((r) => `${r.status} [${r.section}] ${r.title}: ${r.observed}`).join('\n');

t.test(
  'our agent passes every check of the kit',
  { skip: onPostgres && 'the kit runs its own SQLite server; once is enough' },
  async (t) => {
    const list = await conformance();
    t.ok(list.length >= 25, `${list.length} checks`);
    t.same(
      list.filter((r) => r.status !== 'pass').map((r) => `${r.title}: ${r.observed}`),
      [],
      summary(list),
    );
  },
);

t.test(
  'a double that skips signature checks fails exactly the checks that forge a signature',
  { skip: onPostgres && 'as above' },
  async (t) => {
    const list = await conformance((agent) => {
      const trust = agent.inspect().rooms.trust;
      const verified = trust.open.bind(trust);
      trust.open = ((payload: Buffer, type: never) => {
        const opened = verified(payload, type);
        if (opened.ok || (opened.code !== 'BAD_SIGNATURE' && opened.code !== 'UNKNOWN_KEY')) return opened;
        const envelope = JSON.parse(payload.toString());
        return { ok: true, envelope, body: envelope.body };
      }) as typeof trust.open;
    });
    const failed = list.filter((r) => r.status !== 'pass').map((r) => r.title);
    t.same(
      failed.sort(),
      [
        'answers a command signed by another key with an error reply (BAD_SIGNATURE) that echoes its txn, and does not act',
        'refuses a genuine manifest altered after signing (BAD_SIGNATURE)',
        'refuses a manifest signed by another key under the server key id (BAD_SIGNATURE), and acknowledges the refusal',
        'refuses a manifest under a key id it was never given (UNKNOWN_KEY)',
      ].sort(),
      summary(list),
    );
  },
);
