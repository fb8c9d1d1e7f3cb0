// [P-2] Topic layout. Nothing outside this module writes a topic string.
export const PROTOCOL_PREFIX = 'lp/v1';

const SEGMENT = /^[A-Za-z0-9_-]{1,64}$/;

export type TopicKind = 'manifest' | 'report' | 'state';

export class TopicError extends Error {
  readonly code = 'INVALID_TOPIC';
}

function segment(value: string): string {
  // [P-2.1] identifiers are restricted so that no wildcard or separator can leak into a publish topic
  if (!SEGMENT.test(value)) throw new TopicError(`invalid topic segment "${value}"`);
  return value;
}

/** [P-2.2] Station manifest: server → station, QoS 1, retained. */
export const manifestTopic = (station: string) => `${PROTOCOL_PREFIX}/st/${segment(station)}/manifest`;
/** [P-2.3] Playback reports: station → server, QoS 1, not retained. */
export const reportTopic = (station: string) => `${PROTOCOL_PREFIX}/st/${segment(station)}/report`;
/** [P-2.4] Availability: station → all, QoS 1, retained, also the station's last-will. */
export const stateTopic = (station: string) => `${PROTOCOL_PREFIX}/st/${segment(station)}/state`;

/** Subscription filters (the only place wildcards appear). */
export const filters = {
  allReports: `${PROTOCOL_PREFIX}/st/+/report`,
  allStates: `${PROTOCOL_PREFIX}/st/+/state`,
} as const;

/** Refuses wildcard topics: MQTT forbids them in PUBLISH, and a broker may not catch it. */
export function assertPublishable(topic: string): string {
  if (topic.includes('+') || topic.includes('#')) throw new TopicError(`refusing to publish to wildcard topic "${topic}"`);
  return topic;
}

export function parseTopic(topic: string): { kind: TopicKind; station: string } | null {
  const parts = topic.split('/');
  if (parts.length !== 5 || `${parts[0]}/${parts[1]}` !== PROTOCOL_PREFIX || parts[2] !== 'st') return null;
  const [, , , station, kind] = parts;
  if (!SEGMENT.test(station) || (kind !== 'manifest' && kind !== 'report' && kind !== 'state')) return null;
  return { kind, station };
}
