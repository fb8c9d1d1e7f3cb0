// Compliance: the proof ingest (signed reports and telemetry from the link, verified on a worker pool,
// written through the proof ledger, answered with signed storage receipts) and the reading side built
// on it: as-run, reports and station health.
import type { Logger } from 'pino';
import { receiptTopic, seal } from '#protocol';
import type { Metrics } from '../metrics.ts';
import type { MqttLink } from '../mqtt/link.ts';
import { AsRunService } from '../services/as-run-service.ts';
import { HealthService } from '../services/health-service.ts';
import { ReportService } from '../services/report-service.ts';
import type { Domain } from './domain.ts';
import type { Openers } from './openers.ts';
import type { Parts } from './parts.ts';
import type { Storage } from './storage.ts';

/** [P-4.6] A storage receipt's lifetime. */
const RECEIPT_TTL_MS = 3600_000;

export type Compliance = ReturnType<typeof buildCompliance>;

export function buildCompliance(c: {
  now: () => Date;
  log: Logger;
  storage: Storage;
  domain: Domain;
  link: MqttLink;
  metrics: Metrics;
  parts: Parts;
  openers: Openers;
}) {
  const { now, log, link, metrics, parts } = c;
  const { db, key, ledger } = c.storage;
  const { devices, units, live } = c.domain;
  const reports = new ReportService({
    db,
    ledger,
    devices,
    now,
    metrics,
    log,
    open: c.openers.open,
    openers: c.openers.count,
    onStationsChanged: (ids) => live.changed(ids),
    // [P-3.8] Only after the commit: the gateway deletes what a receipt lists.
    receipt: (device, body) =>
      link.publish(receiptTopic(device), JSON.stringify(seal('receipt', body, key.signer, { now: now(), ttlMs: RECEIPT_TTL_MS })), {
        retain: false,
      }),
  });
  parts.add('proof ledger', async () => {
    await reports.drain();
    await ledger.close();
  });
  link.room = () => reports.room();
  link.on('report', (device, payload) => reports.handleReport(device, payload));
  link.on('state', (device, payload) => reports.handleState(device, payload));
  link.on('telemetry', (device, payload) => reports.handleTelemetry(device, payload));
  const sweep = () => reports.sweep();
  const asRun = new AsRunService({ db, now, units, sweep });
  const stationHealth = new HealthService({ db, now, units, sweep, onStationsChanged: (ids) => live.changed(ids) });
  return { reports, asRun, stationHealth };
}
