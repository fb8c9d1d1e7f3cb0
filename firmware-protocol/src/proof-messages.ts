// [P-3.8] Storage receipts and [P-3.9] report batches: the bodies of proof delivery.

import { code } from './fields.ts';
import { LIMITS } from './limits.ts';
import * as z from './zod.ts';

/**
 * [P-3.8] The server's signed storage receipt: which of a device's reports it has committed durably
 * (newly or before: a duplicate is stored too) and which it refused for good. A device keeps every report
 * in its outbox until a receipt names it; a PUBACK only says the broker has it.
 */
export const ReportReceipt = z.object({
  station: code,
  stored: z.array(z.uuid()).check(z.maxLength(LIMITS.maxReceiptIds)),
  refused: z.array(z.object({ id: z.uuid(), code: z.string().check(z.maxLength(64)) })).check(z.maxLength(LIMITS.maxReceiptIds)),
  /**
   * [P-3.9] Present when the server takes `report-batch` messages: the most reports one may carry. A device
   * sends batches only after a receipt has said so (additive in v1).
   */
  batchReports: z.optional(z.int().check(z.positive(), z.maximum(LIMITS.maxBatchReports))),
  /** [P-5.4.1] Messages on the device's report topic whose signature failed: not stored, kept by the device. */
  unverified: z.optional(z.array(z.uuid()).check(z.maxLength(LIMITS.maxReceiptIds))),
});
export type ReportReceipt = z.infer<typeof ReportReceipt>;

/**
 * [P-3.9] Many playback reports under one signature, as a device flushes its outbox. Each item keeps the id
 * its report had in the outbox (receipts name it, the server deduplicates by it); each `report` is a
 * [P-3.2] body, checked on its own so one bad item is refused alone.
 */
const BatchItem = z.object({
  id: z.uuid(),
  report: z.record(z.string(), z.unknown()).check(z.describe('a [P-3.2] report body (report.schema.json), checked on its own')),
});
export const ReportBatch = z
  .object({ station: code, reports: z.array(BatchItem).check(z.minLength(1), z.maxLength(LIMITS.maxBatchReports)) })
  .check(
    z.refine((b) => new Set(b.reports.map((r) => r.id)).size === b.reports.length, { message: 'report ids repeat', path: ['reports'] }),
  );
export type ReportBatch = z.infer<typeof ReportBatch>;
