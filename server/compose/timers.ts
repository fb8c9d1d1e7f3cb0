// Recurring work: alerts pushed out, recurring schedules extended over the moving horizon, proof windows
// closed, offline stations alerted, old login failures and refused-request counts forgotten, plans
// republished to gateways that have not acknowledged them.
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { RefusedRequests } from '../services/refused-requests.ts';
import type { Compliance } from './compliance.ts';
import type { Domain } from './domain.ts';
import type { Parts } from './parts.ts';

/** Runs `work` every `ms` while this process leads, logging (never throwing) what fails; stopped with the server. */
function every(
  parts: Parts,
  name: string,
  ms: number,
  log: Logger,
  leads: () => boolean,
  work: Record<string, () => Promise<unknown>>,
): void {
  const timer = setInterval(() => {
    if (!leads()) return;
    for (const [what, run] of Object.entries(work)) run().catch((err: Error) => log.error({ err }, `${what} failed`));
  }, ms);
  timer.unref();
  parts.add(name, () => clearInterval(timer));
}

export function startTimers(c: {
  config: Config;
  log: Logger;
  domain: Domain;
  compliance: Compliance;
  refused: RefusedRequests;
  throttleSweep: () => Promise<unknown>;
  parts: Parts;
  /** Whether this process leads (server/db/leadership.ts): only the leader does recurring work. */
  leads: () => boolean;
}): void {
  const { domain, compliance, log, parts, leads } = c;
  every(parts, 'alert notifications', c.config.notifyTickMs, log, leads, { 'pushing alerts out': () => domain.notify.tick() });
  every(parts, 'schedule extender', 3600_000, log, leads, {
    'extending recurring schedules': () => domain.schedules.extend(),
    'expiring deliveries': () => domain.dispatch.expireDeliveries(),
  });
  // Proof windows close and offline stations raise alerts within a minute, whoever is looking.
  every(parts, 'as-run sweep', 60_000, log, leads, {
    'as-run sweep': () => compliance.reports.sweep(),
    'forgetting old login failures': c.throttleSweep,
    'deleting old refused-request counts': () => c.refused.sweep(),
    'republishing unacknowledged plans': () => domain.dispatch.republishUnacknowledged(),
    'renewing plans cut to the size limit': () => domain.dispatch.renewCutPlans(),
    'renewing group plans a day old': () => domain.dispatch.refreshGroupPlans(),
  });
}
