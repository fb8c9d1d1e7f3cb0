// The server's MQTT client: one connection to the broker (embedded or external), topic
// dispatch to handlers, and publishing through the protocol's topic builders only.
import { connect, type MqttClient } from 'mqtt';
import { assertPublishable, type DeviceChannel, filters, LIMITS, parseTopic } from '#protocol';

/** Handles a message a device published; `device` comes from the topic ([P-2.2]). */
export type TopicHandler = (device: string, payload: Buffer) => Promise<void>;

export interface MqttLink {
  publish(topic: string, payload: string, opts: { retain: boolean }): Promise<void>;
  on(channel: DeviceChannel, handler: TopicHandler): void;
  connected(): boolean;
  stop(): Promise<void>;
}

export interface LinkLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export async function startMqttLink(opts: {
  url: string;
  clientId: string;
  username?: string;
  password?: string;
  log: LinkLog;
  /**
   * Back-pressure: a promise while the server cannot take more messages. MQTT.js reads the next packet
   * (and PUBACKs this one) only when handleMessage calls back, so the broker keeps the rest meanwhile.
   */
  room?: () => Promise<void> | undefined;
  /**
   * Handlers in place before the connection opens: a persistent session on an external broker delivers what
   * queued while the server was away as soon as it connects, before anything could be registered later.
   */
  handlers?: Partial<Record<DeviceChannel, TopicHandler>>;
}): Promise<MqttLink> {
  const handlers = new Map<DeviceChannel, TopicHandler>(Object.entries(opts.handlers ?? {}) as [DeviceChannel, TopicHandler][]);
  const client: MqttClient = connect(opts.url, {
    clientId: opts.clientId,
    username: opts.username,
    password: opts.password,
    protocolVersion: 4, // MQTT 3.1.1 only ([P-1])
    clean: false,
    reconnectPeriod: 1000,
    connectTimeout: 10_000,
  });
  client.on('connect', () => {
    const stream = (client as unknown as { stream?: { setNoDelay?: (v: boolean) => void } }).stream;
    stream?.setNoDelay?.(true);
  });
  client.on('error', (err) => opts.log.warn({ err: err.message, url: opts.url }, 'mqtt link error'));
  const room = opts.room;
  if (room)
    client.handleMessage = (_packet, callback) => {
      const wait = room();
      if (!wait) return callback();
      wait.then(() => callback());
    };

  client.on('message', (topic, payload) => {
    const parsed = parseTopic(topic);
    const handler = parsed?.scope === 'dev' ? handlers.get(parsed.channel) : undefined;
    if (!parsed || !handler) return;
    if (payload.length > LIMITS.maxPayloadBytes) {
      opts.log.warn({ topic, bytes: payload.length }, 'dropped oversized message');
      return;
    }
    // Handlers validate and report their own errors; this catch keeps a bug from killing the process.
    handler(parsed.id, payload).catch((err: Error) => opts.log.error({ topic, err: err.message }, 'mqtt handler failed'));
  });

  await new Promise<void>((resolvePromise, reject) => {
    const onError = (err: Error) => reject(err);
    client.once('connect', () => {
      client.off('error', onError);
      resolvePromise();
    });
    client.once('error', onError);
  });
  await client.subscribeAsync([...filters.server], { qos: 1 });

  return {
    async publish(topic, payload, { retain }) {
      await client.publishAsync(assertPublishable(topic), payload, { qos: 1, retain });
    },
    on(channel, handler) {
      handlers.set(channel, handler);
    },
    connected: () => client.connected,
    async stop() {
      await client.endAsync();
    },
  };
}
