// The server's MQTT client: one connection to the broker (embedded or external), topic dispatch to
// handlers, and publishing through the protocol's topic builders only. Made first and connected last:
// the services that publish hold it from the start, and every handler is registered before the
// connection opens (a persistent session on an external broker delivers what queued while the server
// was away as soon as it connects).
import { connect, type MqttClient } from 'mqtt';
import { assertPublishable, type DeviceChannel, filters, LIMITS, parseTopic } from '#protocol';

/** Handles a message a device published; `device` comes from the topic ([P-2.2]). */
export type TopicHandler = (device: string, payload: Buffer) => Promise<unknown> | unknown;

/** What services need of the link: publishing. */
export interface Publisher {
  publish(topic: string, payload: string, opts: { retain: boolean }): Promise<void>;
}

/** [P-8.1] Live frames: binary, QoS 0, never retained; a frame that cannot go now is dropped (a late frame is worthless). */
export interface LivePublisher {
  publishFrame(topic: string, frame: Buffer): boolean;
}

/** Command replies go to every process (the one that sent the command awaits it); the rest to the leader. */
const REPLIES = filters.server.filter((f) => f.endsWith('/reply'));
const INGEST = filters.server.filter((f) => !f.endsWith('/reply'));

export interface LinkLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export class MqttLink implements Publisher {
  private readonly handlers = new Map<DeviceChannel, TopicHandler>();
  private client?: MqttClient;
  /**
   * Back-pressure: a promise while the server cannot take more messages. MQTT.js reads the next packet
   * (and PUBACKs this one) only when handleMessage calls back, so the broker keeps the rest meanwhile.
   */
  room?: () => Promise<void> | undefined;
  /** Whether this process takes what devices send (proofs, heartbeats, states, acks); replies it always takes. */
  private ingest = true;
  private readonly started = deferred<MqttClient>();

  constructor(private readonly opts: { clientId: string; log: LinkLog }) {}

  /**
   * Takes device messages or leaves them to the leading process (server/db/leadership.ts). The session is
   * persistent, so leaving unsubscribes: the broker then queues nothing more for this process.
   */
  async setIngest(on: boolean): Promise<void> {
    this.ingest = on;
    const client = this.client;
    if (!client?.connected) return;
    if (on) await client.subscribeAsync([...INGEST], { qos: 1 });
    else await client.unsubscribeAsync([...INGEST]);
  }

  /** Registers the handler of one device channel; only before connect(). */
  on(channel: DeviceChannel, handler: TopicHandler): void {
    if (this.client) throw new Error('mqtt link handlers are registered before it connects');
    this.handlers.set(channel, handler);
  }

  async publish(topic: string, payload: string, { retain }: { retain: boolean }): Promise<void> {
    // Behind a broker that asks the HTTP hooks the link starts once the HTTP server listens: a request
    // served in between publishes when it has started.
    const client = this.client ?? (await this.started.promise);
    await client.publishAsync(assertPublishable(topic), payload, { qos: 1, retain });
  }

  publishFrame(topic: string, frame: Buffer): boolean {
    if (!this.client?.connected) return false;
    this.client.publish(assertPublishable(topic), frame, { qos: 0, retain: false });
    return true;
  }

  connected(): boolean {
    return this.client?.connected ?? false;
  }

  /** Connects and subscribes to every device channel; resolves once subscribed. */
  async connect(url: string, login: { username?: string; password?: string } = {}): Promise<void> {
    const { log } = this.opts;
    const client: MqttClient = connect(url, {
      clientId: this.opts.clientId,
      ...login,
      protocolVersion: 4, // MQTT 3.1.1 only ([P-1])
      clean: false,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      // Not mqtt-packet's table of all 65,536 packet ids (6 MB of the country-scale heap) to save one 2-byte
      // allocation per packet.
      writeCache: false,
    });
    this.client = client;
    this.started.resolve(client);
    client.on('connect', () => {
      const stream = (client as unknown as { stream?: { setNoDelay?: (v: boolean) => void } }).stream;
      stream?.setNoDelay?.(true);
    });
    client.on('error', (err) => log.warn({ err: err.message, url }, 'mqtt link error'));
    const room = this.room;
    if (room)
      client.handleMessage = (_packet, callback) => {
        const wait = room();
        if (!wait) return callback();
        wait.then(() => callback());
      };
    client.on('message', (topic, payload) => {
      const parsed = parseTopic(topic);
      const handler = parsed?.scope === 'dev' ? this.handlers.get(parsed.channel) : undefined;
      if (!parsed || !handler) return;
      if (payload.length > LIMITS.maxPayloadBytes) {
        log.warn({ topic, bytes: payload.length }, 'dropped oversized message');
        return;
      }
      // Handlers validate and report their own errors; this catch keeps a bug from killing the process.
      Promise.resolve()
        .then(() => handler(parsed.id, payload))
        .catch((err: Error) => log.error({ topic, err: err.message }, 'mqtt handler failed'));
    });
    await new Promise<void>((resolvePromise, reject) => {
      const onError = (err: Error) => reject(err);
      client.once('connect', () => {
        client.off('error', onError);
        resolvePromise();
      });
      client.once('error', onError);
    });
    await client.subscribeAsync([...REPLIES], { qos: 1 });
    if (this.ingest) await client.subscribeAsync([...INGEST], { qos: 1 });
    else await client.unsubscribeAsync([...INGEST]);
  }

  async stop(): Promise<void> {
    await this.client?.endAsync();
  }
}

function deferred<T>(): { promise: Promise<T>; resolve(value: T): void } {
  let resolve: (value: T) => void = () => {};
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
