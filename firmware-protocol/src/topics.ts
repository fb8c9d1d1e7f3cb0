// [P-2] Topic layout. Nothing outside this module writes a topic string.
export const PROTOCOL_PREFIX = 'lp/v1';

const SEGMENT = /^[A-Za-z0-9_-]{1,64}$/;

/** [P-2.2] Per-device channels and their direction. */
export const DEVICE_CHANNELS = ['manifest', 'ack', 'cmd', 'reply', 'report', 'receipt', 'telemetry', 'state'] as const;
export type DeviceChannel = (typeof DEVICE_CHANNELS)[number];
/** [P-2.3] Per-unit (group) channels, for fan-out to every device below a unit. */
export const GROUP_CHANNELS = ['cmd', 'live', 'plan'] as const;
export type GroupChannel = (typeof GROUP_CHANNELS)[number];

export type ParsedTopic = { scope: 'dev'; id: string; channel: DeviceChannel } | { scope: 'grp'; id: string; channel: GroupChannel };

export class TopicError extends Error {
  readonly code = 'INVALID_TOPIC';
}

function segment(value: string): string {
  // [P-2.1] identifiers are restricted so that no wildcard or separator can leak into a publish topic
  if (!SEGMENT.test(value)) throw new TopicError(`invalid topic segment "${value}"`);
  return value;
}

export const deviceTopic = (device: string, channel: DeviceChannel) => `${PROTOCOL_PREFIX}/dev/${segment(device)}/${channel}`;
export const groupTopic = (unit: string, channel: GroupChannel) => `${PROTOCOL_PREFIX}/grp/${segment(unit)}/${channel}`;

/** Server → device, QoS 1, retained: the device's current plan. */
export const manifestTopic = (device: string) => deviceTopic(device, 'manifest');
/** Device → server, QoS 1: signed receipt of each manifest version. */
export const ackTopic = (device: string) => deviceTopic(device, 'ack');
/** Server → device, QoS 1: remote commands. */
export const commandTopic = (device: string) => deviceTopic(device, 'cmd');
/** Device → server, QoS 1: one reply per command. */
export const replyTopic = (device: string) => deviceTopic(device, 'reply');
/** Device → server, QoS 1: proof of play. */
export const reportTopic = (device: string) => deviceTopic(device, 'report');
/** Server → device, QoS 1: signed storage receipts of its reports ([P-3.8]). */
export const receiptTopic = (device: string) => deviceTopic(device, 'receipt');
/** Device → server, QoS 0: heartbeat and telemetry. */
export const telemetryTopic = (device: string) => deviceTopic(device, 'telemetry');
/** Device → all, QoS 1, retained; also the device's last-will. */
export const stateTopic = (device: string) => deviceTopic(device, 'state');
/** Server → every device below a unit, QoS 1: commands for many (emergency, live start/stop). */
export const groupCommandTopic = (unit: string) => groupTopic(unit, 'cmd');
/** Server → every device below a unit, QoS 1, retained: the unit's group plan ([P-3.10]). */
export const groupPlanTopic = (unit: string) => groupTopic(unit, 'plan');
/** Server → every device below a unit, QoS 0: live audio frames. */
export const liveTopic = (unit: string) => groupTopic(unit, 'live');

/** Subscription filters (the only place wildcards appear). */
export const filters = {
  /** What the server subscribes to. */
  server: ['ack', 'reply', 'report', 'telemetry', 'state'].map((c) => `${PROTOCOL_PREFIX}/dev/+/${c}`),
  allReports: `${PROTOCOL_PREFIX}/dev/+/report`,
} as const;

/** [P-2.5] What a device subscribes to: its own manifest and commands, and its units' group channels. */
export function deviceSubscriptions(device: string, units: string[]): string[] {
  return [
    manifestTopic(device),
    commandTopic(device),
    receiptTopic(device),
    ...units.flatMap((u) => [groupCommandTopic(u), liveTopic(u), groupPlanTopic(u)]),
  ];
}

/** Refuses wildcard topics: MQTT forbids them in PUBLISH, and a broker may not catch it. */
export function assertPublishable(topic: string): string {
  if (topic.includes('+') || topic.includes('#')) throw new TopicError(`refusing to publish to wildcard topic "${topic}"`);
  return topic;
}

export function parseTopic(topic: string): ParsedTopic | null {
  const parts = topic.split('/');
  if (parts.length !== 5 || `${parts[0]}/${parts[1]}` !== PROTOCOL_PREFIX) return null;
  const [, , scope, id, channel] = parts;
  if (!SEGMENT.test(id)) return null;
  if (scope === 'dev' && (DEVICE_CHANNELS as readonly string[]).includes(channel)) return { scope, id, channel: channel as DeviceChannel };
  if (scope === 'grp' && (GROUP_CHANNELS as readonly string[]).includes(channel)) return { scope, id, channel: channel as GroupChannel };
  return null;
}
