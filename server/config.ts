// One zod-validated configuration loader for the server: environment over an optional JSON file
// over embedded defaults. A wrong value stops the start with the variable's name.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { z } from 'zod';
import type { DbTarget } from './db/client.ts';

const port = z.coerce.number().int().min(0).max(65535);
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

/** Environment variable → config key. */
export const ENV_KEYS = {
  PORT: 'port',
  HOST: 'host',
  LP_DATA_DIR: 'dataDir',
  LP_DATABASE_FILE: 'databaseFile',
  LP_DATABASE_URL: 'databaseUrl',
  LP_INSTANCE: 'instance',
  LP_PUBLIC_URL: 'publicUrl',
  LP_MQTT_URL: 'mqttUrl',
  LP_MQTT_PUBLIC_URL: 'mqttPublicUrl',
  LP_MQTT_ANONYMOUS: 'mqttAnonymous',
  LP_MQTT_PORT: 'mqttPort',
  LP_MQTT_HOST: 'mqttHost',
  LP_MQTT_WS_PATH: 'mqttWsPath',
  LP_MOSQUITTO_DIR: 'mosquittoDir',
  LP_BROKER_HOOK_SECRET: 'brokerHookSecret',
  LP_SMTP_URL: 'smtpUrl',
  LP_SMTP_FROM: 'smtpFrom',
  LP_NOTIFY_INTERVAL_S: 'notifyIntervalS',
  LP_NOTIFY_TICK_MS: 'notifyTickMs',
  LP_LOGINS_PER_MINUTE: 'loginsPerMinute',
  LP_MAX_UPLOAD_BYTES: 'maxUploadBytes',
  LP_TRUST_PROXY: 'trustProxy',
  LP_BODY_TIMEOUT_MS: 'bodyTimeoutMs',
  LP_UPLOAD_IDLE_TIMEOUT_MS: 'uploadIdleTimeoutMs',
  LP_UPLOAD_TIMEOUT_MS: 'uploadTimeoutMs',
  LP_UPLOAD_WAIT_MS: 'uploadWaitMs',
  LP_HEADERS_TIMEOUT_MS: 'headersTimeoutMs',
  LP_KEEP_ALIVE_TIMEOUT_MS: 'keepAliveTimeoutMs',
  LP_ANONYMOUS_CONNECTIONS_PER_ADDRESS: 'anonymousConnectionsPerAddress',
  LP_HEALTH_PER_MINUTE: 'healthPerMinute',
  LP_MQTT_PENDING_CONNECTIONS: 'mqttPendingConnections',
  LP_MQTT_CONNECT_TIMEOUT_MS: 'mqttConnectTimeoutMs',
  LP_MAX_DURATION_S: 'maxDurationS',
  LP_OPUS_BITRATE_KBPS: 'opusBitrateKbps',
  LP_OPUS_COMPLEXITY: 'opusComplexity',
  LP_ENCODE_PARTS: 'encodeParts',
  LP_LOUDNESS_LUFS: 'loudnessLufs',
  LP_MP3_RENDITION_KBPS: 'mp3RenditionKbps',
  LP_TRUE_PEAK_DBTP: 'truePeakDbtp',
  LP_MANIFEST_HORIZON_DAYS: 'manifestHorizonDays',
  LP_COMMAND_TIMEOUT_MS: 'commandTimeoutMs',
  LP_JOB_CONCURRENCY: 'jobConcurrency',
  LP_FFMPEG: 'ffmpegPath',
  LP_FFPROBE: 'ffprobePath',
  LP_ESPEAK: 'espeakPath',
  LP_SOX: 'soxPath',
  LP_TTS_ENGINE: 'ttsEngine',
  LP_TTS_HTTP_URL: 'ttsHttpUrl',
  LP_TTS_HTTP_TOKEN: 'ttsHttpToken',
  LP_TTS_CHIME_FILE: 'ttsChimeFile',
  LP_CAP_SENDERS_FILE: 'capSendersFile',
  LP_RELAY_ALLOW: 'relayAllow',
  LP_CAP_SENDER: 'capSender',
  LP_LOG_LEVEL: 'logLevel',
  LP_SEED: 'seed',
  LP_SEED_POLICY: 'seedPolicy',
  LP_ADMIN_PASSWORD: 'adminPassword',
} as const;

export const ConfigSchema = z.strictObject({
  port: port.default(8080),
  host: z.string().min(1).default('0.0.0.0'),
  dataDir: z.string().min(1).default('./data'),
  /** Defaults to <dataDir>/loaphuong.db. */
  databaseFile: z.string().min(1).optional(),
  /**
   * This process's name among several serving one PostgreSQL database (deploy/README.md): it makes the MQTT
   * client id unique. Stable across restarts, so the broker keeps the process's session for it.
   */
  instance: z
    .string()
    .regex(/^[a-z0-9-]{1,32}$/, 'lowercase letters, digits and -, at most 32')
    .optional(),
  /** A PostgreSQL database (postgresql://user:password@host:port/name) instead of the SQLite file. */
  databaseUrl: z
    .string()
    .regex(/^postgres(ql)?:\/\/\S+$/, 'a postgresql:// URL')
    .optional(),
  /** Base URL gateways use to fetch audio; defaults to http://localhost:<port>. */
  publicUrl: z.url().optional(),
  /** An external MQTT 3.1.1 broker; when unset the embedded aedes broker runs. */
  mqttUrl: z.url().optional(),
  /** The broker URL handed to gateways at enrollment; defaults to the embedded broker's or LP_MQTT_URL. */
  mqttPublicUrl: z.url().optional(),
  /**
   * Embedded broker: accept clients without credentials as read-only observers of the protocol's topics
   * (development and tests). Off by default: only the server and enrolled devices log in ([P-2.6]).
   */
  mqttAnonymous: z.union([z.boolean(), bool]).default(false),
  mqttPort: port.default(1883),
  mqttHost: z.string().min(1).default('0.0.0.0'),
  /** MQTT over WebSocket is served on the HTTP port at this path. */
  mqttWsPath: z.string().startsWith('/').default('/mqtt'),
  /**
   * External Mosquitto: the server keeps `passwd` and `acl` in this directory up to date (at start, on
   * every enrollment, revocation and unit merge); point Mosquitto's password_file and acl_file at them.
   */
  mosquittoDir: z.string().min(1).optional(),
  /** External EMQX or RabbitMQ: enables the HTTP auth/ACL hooks under /broker/, which must present this secret. */
  brokerHookSecret: z.string().min(24).optional(),
  /** Where alert e-mails go out (smtp://user:pass@host:port, smtps://… for TLS); unset: e-mail channels record an error. */
  smtpUrl: z
    .string()
    .regex(/^smtps?:\/\//, 'expected smtp:// or smtps://')
    .optional(),
  smtpFrom: z.string().min(3).default('Truyền thanh cơ sở <loaphuong@localhost>'),
  /** One message per channel at most this often: an outage of 100 stations is one digest, not 100 messages. */
  notifyIntervalS: z.coerce.number().int().min(1).max(86_400).default(300),
  /** How often new alerts are looked for. */
  notifyTickMs: z.coerce.number().int().min(50).max(600_000).default(10_000),
  /** Login attempts one client address may make per minute (on top of the per-source throttle). */
  loginsPerMinute: z.coerce.number().int().min(1).max(100_000).default(30),
  /**
   * Addresses or CIDR ranges of reverse proxies in front of the server (comma-separated): requests through
   * them are judged by the client address in X-Forwarded-For (login throttle, rate limits, refused counts).
   */
  trustProxy: z.string().min(1).optional(),
  /** A request body other than an upload must arrive whole within this (slow-body attacks). */
  bodyTimeoutMs: z.coerce.number().int().min(100).max(600_000).default(15_000),
  /** An upload that sends nothing for this long is refused (408) and its partial file removed. */
  uploadIdleTimeoutMs: z.coerce.number().int().min(100).max(600_000).default(30_000),
  /** An upload must arrive whole within this (a 200 MB file at ~1 Mbit/s). */
  uploadTimeoutMs: z.coerce
    .number()
    .int()
    .min(1000)
    .max(24 * 3600_000)
    .default(30 * 60_000),
  /** An upload's answer waits this long for its processing, then is 202 with the job (a 2-hour item takes minutes). */
  uploadWaitMs: z.coerce.number().int().min(0).max(3600_000).default(20_000),
  /** The request line and headers must arrive within this. */
  headersTimeoutMs: z.coerce.number().int().min(100).max(600_000).default(10_000),
  /** An idle kept-alive connection is closed after this. */
  keepAliveTimeoutMs: z.coerce.number().int().min(100).max(600_000).default(5_000),
  /** HTTP connections one address may hold open before any of them has authenticated. */
  anonymousConnectionsPerAddress: z.coerce.number().int().min(1).max(100_000).default(128),
  /** /health calls one address may make per minute. */
  healthPerMinute: z.coerce.number().int().min(1).max(1_000_000).default(300),
  /** Embedded broker: connections that have not logged in yet, all addresses together; more are closed at once. */
  mqttPendingConnections: z.coerce.number().int().min(1).max(1_000_000).default(4096),
  /** Embedded broker: a connection must send its CONNECT within this. */
  mqttConnectTimeoutMs: z.coerce.number().int().min(100).max(600_000).default(10_000),
  /** CAP alerts in: a JSON file {"<CAP sender>": "<PEM certificate or public key>"} of the senders whose signatures are trusted. */
  capSendersFile: z.string().min(1).optional(),
  /**
   * [P-5.11] Private addresses the server may pull relays from (comma-separated addresses or CIDRs, e.g. the
   * provincial network's radio server); none by default: the server never connects to a private address else.
   */
  relayAllow: z.string().default(''),
  /** CAP alerts out: the sender id our exported alerts carry. */
  capSender: z
    .string()
    .regex(/^[^\s,<&]+$/)
    .default('loaphuong@localhost'),
  maxUploadBytes: z.coerce
    .number()
    .int()
    .positive()
    .default(200 * 1024 * 1024),
  maxDurationS: z.coerce
    .number()
    .int()
    .positive()
    .default(3 * 3600),
  opusBitrateKbps: z.coerce.number().int().min(16).max(64).default(32),
  /** libopus complexity 0-10: 10 encodes best; 5 encodes about twice as fast (the encode dominates ingest). */
  opusComplexity: z.coerce.number().int().min(0).max(10).default(10),
  /**
   * An item of a minute or more is cut at silences into up to this many parts, encoded at once and joined
   * (libopus is single-threaded and the encode dominates ingest); 1 encodes in one piece.
   */
  encodeParts: z.coerce.number().int().min(1).max(8).default(Math.min(4, availableParallelism())),
  /** When set, every item also gets an MP3 rendition at this bitrate, for legacy gateways. */
  mp3RenditionKbps: z.coerce.number().int().min(32).max(192).optional(),
  /** Integrated loudness every item is normalised to (EBU R128). */
  loudnessLufs: z.coerce.number().min(-30).max(-10).default(-16),
  /** True-peak ceiling of every item. */
  truePeakDbtp: z.coerce.number().min(-6).max(0).default(-1),
  manifestHorizonDays: z.coerce.number().int().min(1).max(31).default(7),
  /** How long a remote command waits for the gateway's reply. */
  commandTimeoutMs: z.coerce.number().int().min(100).max(120_000).default(30_000),
  /** Media jobs processed at once; defaults to the number of cores. */
  jobConcurrency: z.coerce.number().int().min(1).max(64).default(availableParallelism()),
  ffmpegPath: z.string().min(1).default('ffmpeg'),
  ffprobePath: z.string().min(1).default('ffprobe'),
  espeakPath: z.string().min(1).default('espeak-ng'),
  /** sox decodes what ffmpeg cannot: AMR phone clips with silence (DTX comfort-noise frames). */
  soxPath: z.string().min(1).default('sox'),
  /** espeak: the offline espeak-ng voice; http: POST to ttsHttpUrl (see server/media/tts.ts). */
  ttsEngine: z.enum(['espeak', 'http']).default('espeak'),
  ttsHttpUrl: z.url().optional(),
  ttsHttpToken: z.string().min(1).optional(),
  /** Played before (and after) a spoken bulletin when asked; defaults to the project's chime. */
  ttsChimeFile: z.string().min(1).optional(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /**
   * What an empty database is seeded with: Hanoi on today's map (hanoi-2025: the city, its 126 units and
   * the 2024 tree as history), on the 2024 map alone (hanoi-2024), or nothing (none); always with the
   * first administrator unless none. true/false are kept as hanoi-2025/none.
   */
  seed: z
    .union([z.boolean(), z.enum(['hanoi-2025', 'hanoi-2024', 'none', 'true', 'false', '1', '0'])])
    .transform((v) => (v === true || v === 'true' || v === '1' ? 'hanoi-2025' : v === false || v === 'false' || v === '0' ? 'none' : v))
    .default('hanoi-2025'),
  /** The broadcast policy the seed gives Hanoi's units: the 2021 limits, or none (everything allowed). */
  seedPolicy: z.enum(['hanoi-2021', 'none']).default('hanoi-2021'),
  /** Password for the first administrator; generated and printed when unset. */
  adminPassword: z.string().min(12).optional(),
});

export type Config = z.infer<typeof ConfigSchema> & { databaseFile: string; database: DbTarget; publicUrl: string };

export class ConfigError extends Error {
  readonly code = 'INVALID_CONFIG';
}

/**
 * Builds the configuration. `env` wins over the JSON file named by LP_CONFIG_FILE, which wins
 * over defaults. Errors name the environment variable (or file key) at fault.
 */
export function loadConfig(env: Record<string, string | undefined>, overrides: Partial<z.input<typeof ConfigSchema>> = {}): Config {
  let fromFile: Record<string, unknown> = {};
  const file = env.LP_CONFIG_FILE;
  if (file) {
    try {
      fromFile = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new ConfigError(`LP_CONFIG_FILE: cannot read ${file}: ${(err as Error).message}`);
    }
  }
  const fromEnv: Record<string, string> = {};
  for (const [name, key] of Object.entries(ENV_KEYS)) {
    const value = env[name];
    if (value !== undefined && value !== '') fromEnv[key] = value;
  }
  const parsed = ConfigSchema.safeParse({ ...fromFile, ...fromEnv, ...overrides });
  if (!parsed.success) {
    const keyToEnv = Object.fromEntries(Object.entries(ENV_KEYS).map(([k, v]) => [v, k]));
    const lines = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? '');
      const where = key in fromEnv ? keyToEnv[key] : key in fromFile ? `${file}: ${key}` : (keyToEnv[key] ?? key);
      return `${where}: ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration\n  ${lines.join('\n  ')}`);
  }
  const c = parsed.data;
  return {
    ...c,
    dataDir: resolve(c.dataDir),
    databaseFile: resolve(c.databaseFile ?? `${c.dataDir}/loaphuong.db`),
    database: c.databaseUrl
      ? { dialect: 'postgres', url: c.databaseUrl }
      : { dialect: 'sqlite', file: resolve(c.databaseFile ?? `${c.dataDir}/loaphuong.db`) },
    publicUrl: (c.publicUrl ?? `http://localhost:${c.port}`).replace(/\/$/, ''),
  };
}

/**
 * A working folder of this process in the data dir ("tmp", "uploads"): its own when several processes share
 * the data dir (LP_INSTANCE), so one process's start never clears another's files or takes its jobs.
 */
export const processDir = (config: Pick<Config, 'dataDir' | 'instance'>, name: string): string =>
  resolve(config.dataDir, config.instance ? `${name}-${config.instance}` : name);
