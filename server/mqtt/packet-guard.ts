// Packet-size caps for the embedded broker, enforced from each MQTT packet's fixed header (type and
// declared remaining length, MQTT 3.1.1 §2.2) before the broker buffers the body: a connection that
// declares a packet over its cap is closed at once, so a stranger cannot make the server hold a 255 MB
// CONNECT. Before login only a small CONNECT is allowed; after it, a PUBLISH may carry the largest
// payload the protocol allows ([P-7] maxPayloadBytes) and every other packet stays small.
import { LIMITS } from '#protocol';

/** MQTT control packet types (the high nibble of the first byte). */
const CONNECT = 1;
const PUBLISH = 3;
const SUBSCRIBE = 8;
const UNSUBSCRIBE = 10;

/** Room for the topic, packet id and properties around a payload. */
const PUBLISH_OVERHEAD = 1024;

export const PACKET_CAPS = {
  /** Client id, username, password and the last-will (a small availability message). */
  connect: 4096,
  publish: LIMITS.maxPayloadBytes + PUBLISH_OVERHEAD,
  /** A device subscribes to a handful of topics. */
  subscribe: 16 * 1024,
  /** PUBACK, PINGREQ, DISCONNECT and the like: a few bytes. */
  other: 64,
} as const;

/** All a client may send before its login is decided (MQTT lets it send packets right after CONNECT). */
export const PRE_LOGIN_BYTES = 16 * 1024;

export type Violation = {
  code: 'PACKET_TOO_LARGE' | 'NOT_CONNECTED' | 'BAD_LENGTH' | 'TOO_MUCH_BEFORE_LOGIN';
  type: number;
  length: number;
};

/** The largest packet of a kind a client may send, before and after it logged in. */
export function packetCap(type: number, loggedIn: boolean): number {
  if (!loggedIn) return PACKET_CAPS.connect;
  if (type === PUBLISH) return PACKET_CAPS.publish;
  if (type === SUBSCRIBE || type === UNSUBSCRIBE) return PACKET_CAPS.subscribe;
  return PACKET_CAPS.other;
}

/**
 * Reads the byte stream a client sends, one chunk at a time, and answers the first violation: a packet
 * declared over its cap, a first packet that is not CONNECT, more than PRE_LOGIN_BYTES before the login is
 * decided, or a malformed length. Keeps only a few
 * bytes of state; the packets themselves are the broker's to parse.
 */
export class PacketScanner {
  /** Bytes of the current packet's body still to skip. */
  private skip = 0;
  /** The current fixed header: its type, and the remaining length read so far. */
  private type = -1;
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;
  private connectSeen = false;
  /** Bytes received before the login was decided. */
  private beforeLogin = 0;

  constructor(private readonly loggedIn: () => boolean) {}

  feed(chunk: Buffer): Violation | null {
    if (!this.loggedIn()) {
      this.beforeLogin += chunk.length;
      if (this.beforeLogin > PRE_LOGIN_BYTES) return { code: 'TOO_MUCH_BEFORE_LOGIN', type: this.type, length: this.beforeLogin };
    }
    let i = 0;
    while (i < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - i);
        this.skip -= n;
        i += n;
        continue;
      }
      const byte = chunk[i++] as number;
      if (this.type < 0) {
        this.type = byte >> 4;
        this.length = 0;
        this.multiplier = 1;
        this.lengthBytes = 0;
        continue;
      }
      this.length += (byte & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      this.lengthBytes++;
      if (byte & 0x80) {
        if (this.lengthBytes >= 4) return { code: 'BAD_LENGTH', type: this.type, length: this.length };
        continue;
      }
      const type = this.type;
      // The first packet must be CONNECT; others may follow it at once, small until the login is decided.
      const loggedIn = this.connectSeen && this.loggedIn();
      if (!this.connectSeen && type !== CONNECT) return { code: 'NOT_CONNECTED', type, length: this.length };
      if (this.length > packetCap(type, loggedIn)) return { code: 'PACKET_TOO_LARGE', type, length: this.length };
      if (type === CONNECT) this.connectSeen = true;
      this.skip = this.length;
      this.type = -1;
    }
    return null;
  }
}
