// [P-2.6] Broker access control as pure rules, so every broker the deployment uses applies the same
// ones: the embedded broker calls them, the Mosquitto ACL file and the HTTP ACL endpoint are derived
// from them.
import { deviceSubscriptions, deviceTopic, filters, PROTOCOL_PREFIX, parseTopic } from './topics.ts';

/** Who holds an MQTT session: the server, an enrolled device (with its unit chain), or a read-only observer. */
export type MqttPrincipal = { role: 'server' } | { role: 'device'; device: string; units: string[] } | { role: 'observer' };

/** Device channels that only the server publishes to, and those only their own device publishes to. */
const SERVER_TO_DEVICE = new Set(['manifest', 'cmd', 'receipt']);
const DEVICE_TO_SERVER_CHANNELS = ['ack', 'reply', 'report', 'telemetry', 'state'] as const;
const DEVICE_TO_SERVER: ReadonlySet<string> = new Set(DEVICE_TO_SERVER_CHANNELS);

export function mayPublish(p: MqttPrincipal, topic: string): boolean {
  const t = parseTopic(topic);
  if (!t) return false;
  if (p.role === 'server') return t.scope === 'grp' || SERVER_TO_DEVICE.has(t.channel);
  if (p.role === 'device') return t.scope === 'dev' && t.id === p.device && DEVICE_TO_SERVER.has(t.channel);
  return false;
}

export function maySubscribe(p: MqttPrincipal, filter: string): boolean {
  if (p.role === 'device') return deviceSubscriptions(p.device, p.units).includes(filter);
  if (p.role === 'server') return (filters.server as readonly string[]).includes(filter);
  // An observer (a development setting) may watch the protocol's topics, never write them.
  return filter === `${PROTOCOL_PREFIX}/#` || filter.startsWith(`${PROTOCOL_PREFIX}/`);
}

/**
 * The same rules as topic grants, for brokers configured with lists (a Mosquitto ACL file): what the
 * principal may publish, and what it may subscribe to (and so receive). Filters use MQTT wildcards.
 */
export function grants(p: MqttPrincipal): { publish: string[]; subscribe: string[] } {
  if (p.role === 'server')
    return {
      publish: [...[...SERVER_TO_DEVICE].map((c) => `${PROTOCOL_PREFIX}/dev/+/${c}`), `${PROTOCOL_PREFIX}/grp/#`],
      subscribe: [...filters.server],
    };
  if (p.role === 'device')
    return { publish: DEVICE_TO_SERVER_CHANNELS.map((c) => deviceTopic(p.device, c)), subscribe: deviceSubscriptions(p.device, p.units) };
  return { publish: [], subscribe: [`${PROTOCOL_PREFIX}/#`] };
}
