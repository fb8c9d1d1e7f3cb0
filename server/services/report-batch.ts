// [P-3.8] What the receipts of a batch of messages say (and [P-5.4.1] which failed their signature), and [P-3.9] a batch of playback reports under one device signature, unpacked into one job per report once the
// batch has verified: each report is then checked, deduplicated, chained and receipted under its own id as
// if it had come alone. What is stored of each is its item in canonical form (RFC 8785), and the batch as
// received beside it, so the one signature still proves every report later (compliance/verify-day.ts).
import { LIMITS, type ReportReceipt } from '#protocol';
import type { BatchItemRead } from '../compliance/open-worker.ts';
import { FINAL_REFUSALS, UNVERIFIED } from '../compliance/proof-rules.ts';
import type { DeviceIdentity } from './device-service.ts';
import type { Job, Opened, Result } from './proof-writer.ts';

export interface Unpacked {
  /** One job per report of the batch; each is answered (and receipted) on its own. */
  children: Job[];
  /** The reports that read as [P-3.2] bodies of this station. */
  opened: Opened[];
  /** Reports refused alone: not a report body, or naming another station. */
  refused: { job: Job; code: string; detail: string; id: string }[];
}

/**
 * Unpacks a verified batch whose `station` is the device's own, its reports read where it was opened
 * (compliance/open-worker.ts); `answered` hears each report's result.
 */
export function unpackBatch(
  parent: Job,
  identity: DeviceIdentity,
  batch: { id: string; raw: string; items: BatchItemRead[] },
  answered: (r: Result) => void,
): Unpacked {
  const out: Unpacked = { children: [], opened: [], refused: [] };
  for (const item of batch.items) {
    const job: Job = { type: 'report', device: parent.device, payload: Buffer.from(item.raw, 'utf8'), done: answered };
    out.children.push(job);
    if ('invalid' in item) {
      out.refused.push({ job, code: 'INVALID_BODY', detail: item.invalid, id: item.id });
      continue;
    }
    if (item.report.station !== identity.station.code) {
      out.refused.push({ job, code: 'STATION_MISMATCH', detail: `report names ${item.report.station}`, id: item.id });
      continue;
    }
    out.opened.push({ job, identity, envelope: { id: item.id }, report: item.report, batch: { id: batch.id, raw: batch.raw } });
  }
  return out;
}

/**
 * [P-3.8] The receipts of a batch of messages, per device: each report stored now or before, and each
 * refused for good, by its own id (a [P-3.9] batch that was unpacked is not named; its reports are), in
 * receipts of at most 500 ids of each kind, each saying the server takes batches.
 */
export function receiptsFor(
  jobs: Job[],
  results: Map<Job, Result>,
  stations: Map<string, string>,
): { device: string; receipts: ReportReceipt[] }[] {
  const byDevice = new Map<string, { stored: string[]; refused: { id: string; code: string }[]; unverified: string[] }>();
  for (const job of jobs) {
    const r = results.get(job);
    if (job.type !== 'report' || !r?.id || r.batch) continue;
    const stored = r.outcome !== 'rejected';
    if (!stored && !FINAL_REFUSALS.has(r.kind) && !UNVERIFIED.has(r.kind)) continue;
    const entry = byDevice.get(job.device) ?? { stored: [], refused: [], unverified: [] };
    if (stored) entry.stored.push(r.id);
    else if (UNVERIFIED.has(r.kind)) entry.unverified.push(r.id);
    else entry.refused.push({ id: r.id, code: r.kind });
    byDevice.set(job.device, entry);
  }
  return [...byDevice].flatMap(([device, { stored, refused, unverified }]) => {
    const station = stations.get(device);
    if (!station) return [];
    const max = LIMITS.maxReceiptIds;
    const receipts: ReportReceipt[] = [];
    for (let i = 0; i < Math.max(stored.length, refused.length, unverified.length); i += max)
      receipts.push({
        station,
        stored: stored.slice(i, i + max),
        refused: refused.slice(i, i + max),
        batchReports: LIMITS.maxBatchReports,
        ...(unverified.length > i ? { unverified: unverified.slice(i, i + max) } : {}),
      });
    return [{ device, receipts }];
  });
}
