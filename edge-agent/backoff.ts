// [P-1.2] Exponential backoff with jitter, for MQTT reconnects and audio fetch retries: the wait starts
// at 1 s, doubles up to 300 s, and each wait is multiplied by a random factor in [0.5, 1.5], so thousands
// of gateways returning together after an outage spread their reconnects instead of arriving in lockstep.
import { connect, type IClientOptions, type MqttClient } from 'mqtt';

export interface BackoffOptions {
  baseMs?: number;
  capMs?: number;
  /** Uniform in [0, 1); injected so tests can fix it. */
  random?: () => number;
}

export class Backoff {
  private failures = 0;
  private readonly baseMs: number;
  private readonly capMs: number;
  private readonly random: () => number;

  constructor(opts: BackoffOptions = {}) {
    this.baseMs = opts.baseMs ?? 1000;
    this.capMs = opts.capMs ?? 300_000;
    this.random = opts.random ?? Math.random;
  }

  /** The wait before the next attempt; each call counts one more failure. */
  next(): number {
    const step = Math.min(this.capMs, this.baseMs * 2 ** Math.min(this.failures, 30));
    this.failures++;
    return Math.max(1, Math.round(step * (0.5 + this.random())));
  }

  reset(): void {
    this.failures = 0;
  }

  get attempts(): number {
    return this.failures;
  }
}

/**
 * An MQTT.js client whose reconnect waits follow `backoff`. MQTT.js re-reads `options.reconnectPeriod`
 * each time a connection closes (its own close handler arms the next attempt), so a listener placed
 * before that handler sets the next wait; a successful CONNACK starts the sequence again. The socket
 * gets TCP_NODELAY: reports and acks are small and should not wait for Nagle's algorithm.
 */
export function connectWithBackoff(url: string, options: IClientOptions, backoff: Backoff = new Backoff()): MqttClient {
  // The period given here is a placeholder (it must be positive to enable reconnects); the first close replaces it.
  // writeCache off: MQTT.js otherwise fills mqtt-packet's table of all 65,536 two-byte packet ids on the first
  // write, one Buffer each (7 MB of heap, 16 MB resident on an idle gateway, measured), to save one 2-byte
  // allocation per packet.
  const client = connect(url, { keepalive: 60, writeCache: false, ...options, reconnectPeriod: 1000 });
  client.prependListener('close', () => {
    client.options.reconnectPeriod = backoff.next();
  });
  client.on('connect', () => {
    backoff.reset();
    const stream = (client as unknown as { stream?: { setNoDelay?: (v: boolean) => void } }).stream;
    stream?.setNoDelay?.(true);
  });
  return client;
}

/** The agent's MQTT connection as [P-1.2] specifies it: its own login, a persistent session, the last-will, backoff. */
export function gatewayConnector(url: string | undefined, backoffOptions?: BackoffOptions) {
  return (
    will: { topic: string; payload: string },
    login: { clientId: string; username: string; password: string; url?: string },
  ): MqttClient =>
    connectWithBackoff(
      url ?? login.url ?? 'mqtt://127.0.0.1:1883',
      {
        clientId: login.clientId,
        username: login.username,
        password: login.password,
        protocolVersion: 4,
        clean: false,
        will: { topic: will.topic, payload: Buffer.from(will.payload), qos: 1, retain: true },
      },
      new Backoff(backoffOptions),
    );
}
