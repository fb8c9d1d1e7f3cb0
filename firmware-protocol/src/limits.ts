// [P-7] Size limits. Every receiver enforces them before parsing further.
export const LIMITS = {
  /** Largest MQTT payload any party publishes or accepts, in bytes. */
  maxPayloadBytes: 256 * 1024,
  /** Most entries one manifest may carry. */
  maxManifestEntries: 2000,
  /** Longest allowed station or device identifier. */
  maxIdLength: 64,
} as const;
