// One zod-validated configuration loader for the agent: command line over environment over a JSON
// config file (--config / LP_AGENT_CONFIG) over defaults.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as z from '#protocol/zod';

const text = z.string().check(z.minLength(1));

export const AgentConfig = z.strictObject({
  /** One-time token from provisioning (POST /api/v1/stations/{code}/devices); needed for the first start only. */
  enrollToken: z.optional(z.string().check(z.minLength(16), z.maxLength(128))),
  serverUrl: z._default(z.url(), 'http://127.0.0.1:8080'),
  /** The broker; unset: the URL the server gave at enrollment ([P-5.1] mqtt.url). */
  mqttUrl: z.optional(z.url()),
  dataDir: z.optional(text),
  /** ALSA device; when unset a sound card is detected, else the null sink measures instead. */
  alsaDevice: z.optional(text),
  /**
   * Outputs by zone code (as provisioned on the server) to an ALSA device, or "null" for the
   * measuring null sink. Unset: one zone "z1" on `alsaDevice` or the detected card.
   */
  zones: z.optional(
    z.record(z.string(), text).check(
      z.refine((zones) => Object.keys(zones).length >= 1 && Object.keys(zones).length <= 16, 'between 1 and 16 zones'),
      z.refine(
        (zones) => Object.keys(zones).every((code) => /^[A-Za-z0-9_-]{1,32}$/.test(code)),
        'a zone code is 1–32 letters, digits, _ or -',
      ),
    ),
  ),
  ffmpegPath: z._default(text, 'ffmpeg'),
  /** Audio for items starting within this many hours is fetched ahead. */
  prefetchHorizonHours: z._default(z.number().check(z.positive(), z.maximum(24 * 31)), 72),
  /** Disk the audio cache may use before it evicts what no entry needs. */
  cacheBudgetMB: z._default(z.int().check(z.positive()), 1024),
  heartbeatSeconds: z._default(z.int().check(z.minimum(5), z.maximum(3600)), 60),
  fadeMs: z._default(z.int().check(z.minimum(0), z.maximum(5000)), 300),
  /** The operator's choice to start without an unreadable state (kept aside): a new enrollment token is needed then. */
  resetState: z._default(z.boolean(), false),
});
export type AgentConfig = z.infer<typeof AgentConfig> & { dataDir: string };

const FLAGS = {
  'enroll-token-file': 'LP_AGENT_ENROLL_TOKEN_FILE',
  server: 'LP_AGENT_SERVER_URL',
  mqtt: 'LP_AGENT_MQTT_URL',
  'data-dir': 'LP_AGENT_DATA_DIR',
  'alsa-device': 'LP_AGENT_ALSA_DEVICE',
  ffmpeg: 'LP_FFMPEG',
  config: 'LP_AGENT_CONFIG',
} as const;

export const AGENT_USAGE = `Usage: npm run agent -- [options]

Runs the loaphuong edge agent on a station gateway: enrolls once with a token from provisioning, then keeps
the station's signed plan, plays it on time (offline too) and reports signed proof of what aired.

Options (each also from the environment variable shown, or a JSON file given with --config):
  --enroll-token-file F the one-time token from POST /api/v1/stations/{code}/devices, in a file     LP_AGENT_ENROLL_TOKEN_FILE
                        ("-": standard input); first start only. Or the token itself in
                        LP_AGENT_ENROLL_TOKEN. Never on the command line: every user sees it in ps.
  --server URL          the server's base URL (default http://127.0.0.1:8080)                        LP_AGENT_SERVER_URL
  --mqtt URL            the broker (default: the URL the server gave at enrollment)                 LP_AGENT_MQTT_URL
  --data-dir DIR        state, outbox and audio cache (default ./data/agent)                        LP_AGENT_DATA_DIR
  --alsa-device NAME    ALSA output (default: the detected card, else a measuring null sink)        LP_AGENT_ALSA_DEVICE
  --ffmpeg PATH         ffmpeg to play with (default ffmpeg)                                        LP_FFMPEG
  --config FILE         JSON file with the same settings and zones, prefetchHorizonHours,           LP_AGENT_CONFIG
                        cacheBudgetMB, heartbeatSeconds, fadeMs
  --reset-state         start although the state is unreadable (it is kept aside; the gateway must
                        enroll again with a new token). Never needed otherwise.
  --help                this text
`;

/** The enrollment token from a file ("-": standard input), trimmed. */
function readToken(file: string, readFile: (file: string | number) => string): string {
  try {
    return readFile(file === '-' ? 0 : file).trim();
  } catch (err) {
    throw new Error(`--enroll-token-file: cannot read ${file}: ${(err as Error).message}`);
  }
}

export function loadAgentConfig(
  argv: string[],
  env: Record<string, string | undefined>,
  readFile: (file: string | number) => string = (file) => readFileSync(file, 'utf8'),
): AgentConfig {
  if (argv.some((a) => a === '--enroll-token' || a.startsWith('--enroll-token=')))
    throw new Error(
      '--enroll-token: a token on the command line is visible to every user of this machine (ps); ' +
        'give it in a file with --enroll-token-file FILE ("-" reads standard input) or in LP_AGENT_ENROLL_TOKEN',
    );
  const { values } = parseArgs({
    args: joinValues(argv),
    options: {
      ...Object.fromEntries(Object.keys(FLAGS).map((k) => [k, { type: 'string' as const }])),
      'reset-state': { type: 'boolean' as const },
    },
    strict: true,
  });
  const pick = (flag: keyof typeof FLAGS) =>
    ((values as Record<string, unknown>)[flag] as string | undefined) ?? (env[FLAGS[flag]] || undefined);
  const configFile = pick('config');
  let fromFile: Record<string, unknown> = {};
  if (configFile) {
    try {
      fromFile = JSON.parse(readFileSync(configFile, 'utf8'));
    } catch (err) {
      throw new Error(`--config: cannot read ${configFile}: ${(err as Error).message}`);
    }
    if (typeof fromFile !== 'object' || fromFile === null || Array.isArray(fromFile))
      throw new Error(`--config: ${configFile} is not a JSON object`);
  }
  const given = Object.fromEntries(
    Object.entries({
      enrollToken: pick('enroll-token-file')
        ? readToken(pick('enroll-token-file') as string, readFile)
        : env.LP_AGENT_ENROLL_TOKEN || undefined,
      serverUrl: pick('server'),
      mqttUrl: pick('mqtt'),
      dataDir: pick('data-dir'),
      alsaDevice: pick('alsa-device'),
      ffmpegPath: pick('ffmpeg'),
      resetState: values['reset-state'] === true ? true : undefined,
    }).filter(([, v]) => v !== undefined),
  );
  const parsed = AgentConfig.safeParse({ ...fromFile, ...given });
  if (!parsed.success) {
    const names: Record<string, string> = {
      enrollToken: '--enroll-token-file',
      serverUrl: '--server',
      mqttUrl: '--mqtt',
      dataDir: '--data-dir',
      alsaDevice: '--alsa-device',
      ffmpegPath: '--ffmpeg',
    };
    throw new Error(
      parsed.error.issues.map((i) => `${names[String(i.path[0])] ?? `${configFile}: ${String(i.path[0])}`}: ${i.message}`).join('\n'),
    );
  }
  return {
    ...parsed.data,
    serverUrl: parsed.data.serverUrl.replace(/\/$/, ''),
    dataDir: parsed.data.dataDir ?? './data/agent',
  };
}

/**
 * `--flag value` → `--flag=value` for our flags, so a value may start with "-" (a path, or "-" for
 * standard input; parseArgs would take it for an option and refuse to start).
 */
function joinValues(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const next = argv[i + 1];
    if (arg.startsWith('--') && arg.slice(2) in FLAGS && next !== undefined) {
      out.push(`${arg}=${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}
