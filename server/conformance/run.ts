// `runConformance`: the [P-10] checklist against one device under test, in order; a part that throws is
// recorded as a failure and the rest still run (except after a failed enrollment: nothing can).
import { airingChecks, airingPlan, corruptBlob, makeTone } from './checks-airing.ts';
import { commandChecks } from './checks-commands.ts';
import { manifestChecks } from './checks-manifest.ts';
import { Kit, type KitOptions } from './kit.ts';
import { type CheckResult, Results } from './results.ts';

export async function runConformance(opts: KitOptions): Promise<CheckResult[]> {
  const results = new Results(opts.progress);
  const kit = await Kit.start(opts);
  try {
    const half = await makeTone(kit, 'half', { seconds: 3, frequency: 660, amplitude: 0.5 });
    const long = await makeTone(kit, 'long', { seconds: 8, frequency: 440, amplitude: 0.5 });
    const broken = await makeTone(kit, 'broken', { seconds: 2, frequency: 880, amplitude: 0.5 });
    corruptBlob(kit, broken);
    const plan = airingPlan(kit, { half, long, broken });
    kit.planExtra = { policy: plan.policy };
    const part = async (name: string, fn: () => Promise<unknown>) => {
      try {
        return await fn();
      } catch (err) {
        results.add('P-10', `${name}: the kit could not complete this part`, false, (err as Error).stack ?? String(err));
        return undefined;
      }
    };
    const enrolled = await part('enrollment and manifests', () => manifestChecks(kit, results, plan.list));
    if (enrolled !== true) {
      results.notRun('P-5, P-3.5', 'airing, proof and command checks', 'the device never enrolled and applied a manifest');
      return results.list;
    }
    await part('airing and proof', () => airingChecks(kit, results, plan));
    await part('commands and clock', () => commandChecks(kit, results));
    return results.list;
  } finally {
    await kit.stop();
  }
}
