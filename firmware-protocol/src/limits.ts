// [P-7] Size limits. Every receiver enforces them before parsing further.
export const LIMITS = {
  /** Largest MQTT payload any party publishes or accepts, in bytes. */
  maxPayloadBytes: 256 * 1024,
  /** Most entries one manifest may carry: 7 days × ~70 items, and ~330 bytes each stays under maxPayloadBytes. */
  maxManifestEntries: 500,
  /** Longest allowed device, station or unit identifier. */
  maxIdLength: 64,
  /** Most report ids one storage receipt lists, in `stored` and in `refused` each ([P-3.8]). */
  maxReceiptIds: 500,
  /** Most reports one `report-batch` carries ([P-3.9]): one receipt can name them all. */
  maxBatchReports: 500,
  /** Largest Opus packet in a live frame (RFC 6716 §3.4: 1275 bytes). */
  maxFramePayloadBytes: 1275,
  /** Most media references a manifest's `prefetch` lists ([P-5.5] emergency templates). */
  maxPrefetch: 32,
  /** Longest occurrenceId of an emergency sent to a group, so that `{occurrenceId}@{station}` fits in 64 ([P-5.5]). */
  maxGroupOccurrenceIdLength: 15,
} as const;
