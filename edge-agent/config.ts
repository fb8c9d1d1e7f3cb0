// One zod-validated configuration loader for the agent: command line over environment over defaults.
import { parseArgs } from 'node:util';
import { z } from 'zod';

export const AgentConfig = z.strictObject({
  /** One-time token from provisioning (POST /api/v1/stations/{code}/devices); needed for the first start only. */
  enrollToken: z.string().min(16).max(128).optional(),
  serverUrl: z.url().default('http://127.0.0.1:8080'),
  mqttUrl: z.url().default('mqtt://127.0.0.1:1883'),
  dataDir: z.string().min(1).optional(),
  /** ALSA device; when unset a sound card is detected, else the null sink measures instead. */
  alsaDevice: z.string().min(1).optional(),
  ffmpegPath: z.string().min(1).default('ffmpeg'),
});
export type AgentConfig = z.infer<typeof AgentConfig> & { dataDir: string };

const FLAGS = {
  'enroll-token': 'LP_AGENT_ENROLL_TOKEN',
  server: 'LP_AGENT_SERVER_URL',
  mqtt: 'LP_AGENT_MQTT_URL',
  'data-dir': 'LP_AGENT_DATA_DIR',
  'alsa-device': 'LP_AGENT_ALSA_DEVICE',
  ffmpeg: 'LP_FFMPEG',
} as const;

export function loadAgentConfig(argv: string[], env: Record<string, string | undefined>): AgentConfig {
  const { values } = parseArgs({
    args: argv,
    options: Object.fromEntries(Object.keys(FLAGS).map((k) => [k, { type: 'string' as const }])),
    strict: true,
  });
  const pick = (flag: keyof typeof FLAGS) => (values[flag] as string | undefined) ?? (env[FLAGS[flag]] || undefined);
  const parsed = AgentConfig.safeParse({
    enrollToken: pick('enroll-token'),
    serverUrl: pick('server'),
    mqttUrl: pick('mqtt'),
    dataDir: pick('data-dir'),
    alsaDevice: pick('alsa-device'),
    ffmpegPath: pick('ffmpeg'),
  });
  if (!parsed.success) {
    const names: Record<string, string> = {
      enrollToken: '--enroll-token',
      serverUrl: '--server',
      mqttUrl: '--mqtt',
      dataDir: '--data-dir',
      alsaDevice: '--alsa-device',
      ffmpegPath: '--ffmpeg',
    };
    throw new Error(parsed.error.issues.map((i) => `${names[String(i.path[0])] ?? i.path[0]}: ${i.message}`).join('\n'));
  }
  return {
    ...parsed.data,
    serverUrl: parsed.data.serverUrl.replace(/\/$/, ''),
    dataDir: parsed.data.dataDir ?? './data/agent',
  };
}
