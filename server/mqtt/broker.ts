// The embedded MQTT 3.1.1 broker (aedes): TCP, plus MQTT over WebSocket on the HTTP server.
// A province that outgrows it sets LP_MQTT_URL and this does not start.
import { once } from 'node:events';
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Aedes, type Client } from 'aedes';
import { createWebSocketStream, WebSocketServer } from 'ws';
import { type MqttPrincipal, mayPublish, maySubscribe } from '#protocol';
import { PACKET_CAPS, PacketScanner } from './packet-guard.ts';
import { indexedMemoryPersistence } from './retained-index.ts';

export interface EmbeddedBroker {
  /** The public MQTT port (TCP); listening only once open() was called. */
  port: number;
  /** The loopback port the server's own link uses before the public listener opens. */
  internalPort: number;
  /**
   * Opens the public listeners, TCP and (given the HTTP server) WebSocket on it: called once every server
   * handler is subscribed.
   */
  open(httpServer?: HttpServer): Promise<void>;
  /** Closes the public listeners (no new gateway sessions); the first step of shutdown. */
  closeListeners(): Promise<void>;
  clients(): number;
  /** Closes a connected client's session now (a revoked device). */
  disconnect(clientId: string): void;
  /** Calls `fn` with each SUBSCRIBE's granted filters and its client id (the conformance kit's view of a device). */
  onSubscribe(fn: (clientId: string, filters: string[]) => void): () => void;
  /** Connections that have not logged in yet, and how many were closed for a packet over its cap or too many pending. */
  guard(): { pending: number; oversized: number; overflow: number };
  stop(): Promise<void>;
}

/**
 * A warning logger that writes at most `perMinute` lines a minute and then one line saying how many it
 * left out: a crowd of refused connections must not fill the disk through the log either.
 */
export function limitedWarnings(log: { warn(obj: object, msg: string): void }, perMinute = 60) {
  let windowStart = performance.now();
  let written = 0;
  let suppressed = 0;
  return {
    warn(obj: object, msg: string) {
      const at = performance.now();
      if (at - windowStart >= 60_000) {
        if (suppressed) log.warn({ suppressed }, 'mqtt warnings left out in the last minute');
        windowStart = at;
        written = 0;
        suppressed = 0;
      }
      if (written++ < perMinute) log.warn(obj, msg);
      else suppressed++;
    },
  };
}

export async function startEmbeddedBroker(opts: {
  host: string;
  port: number;
  /** MQTT over WebSocket is accepted at this path of the HTTP server given to open(). */
  wsPath: string;
  /** Decides a CONNECT (username and password as given, absent for an anonymous client): who it is, or null. */
  authenticate: (clientId: string, username: string | undefined, password: string | undefined) => Promise<MqttPrincipal | null>;
  /** Connections not logged in yet, all addresses together; past it new ones are closed at once. */
  maxPending: number;
  /** A connection must send its CONNECT within this. */
  connectTimeoutMs: number;
  log: { warn(obj: object, msg: string): void };
}): Promise<EmbeddedBroker> {
  const log = limitedWarnings(opts.log);
  const principals = new WeakMap<Client, MqttPrincipal>();
  // Each connection's byte stream is read by a packet scanner before the broker parses it (packet-guard.ts).
  const sessions = new WeakMap<object, { loggedIn: boolean; release(): void }>();
  const counts = { pending: 0, oversized: 0, overflow: 0 };
  const guarded = (conn: Duplex, destroy: () => void, address: string | undefined): boolean => {
    if (counts.pending >= opts.maxPending) {
      counts.overflow++;
      destroy();
      return false;
    }
    counts.pending++;
    let released = false;
    const state = {
      loggedIn: false,
      release() {
        if (released) return;
        released = true;
        counts.pending--;
      },
    };
    sessions.set(conn, state);
    const scanner = new PacketScanner(() => state.loggedIn);
    conn.on('data', (chunk: Buffer) => {
      const violation = scanner.feed(chunk);
      if (!violation) return;
      counts.oversized++;
      log.warn({ address, ...violation }, 'mqtt connection closed: packet refused before parsing');
      destroy();
    });
    conn.once('close', () => state.release());
    return true;
  };
  const aedes = await Aedes.createBroker({
    // Retained plans and states found by exact topic at each SUBSCRIBE (retained-index.ts).
    persistence: indexedMemoryPersistence(),
    connectTimeout: opts.connectTimeoutMs,
    // Deliveries in flight before aedes queues; its queue drains recursively and overflows the stack when
    // thousands of gateways publish at once (moscajs/aedes#193, mcollina/mqemitter#204), so keep it wide: a
    // country-wide alert brings a reply, a start proof and a heartbeat from each of 10,542 gateways within a
    // second (20,000 overflowed the stack there).
    concurrency: 100_000,
    authenticate: (client, username, password, done) => {
      opts.authenticate(client.id, username || undefined, password?.toString('utf8')).then(
        (principal) => {
          if (principal) {
            principals.set(client, principal);
            const session = sessions.get(client.conn);
            if (session) {
              session.loggedIn = true;
              session.release();
            }
            return done(null, true);
          }
          // CONNACK 4: bad user name or password.
          const err = Object.assign(new Error('bad credentials'), { returnCode: 4 });
          log.warn({ client: client.id, username }, 'mqtt login refused');
          done(err as Parameters<typeof done>[0], false);
        },
        () => done(Object.assign(new Error('auth failed'), { returnCode: 3 }) as Parameters<typeof done>[0], false),
      );
    },
    // [P-2.6] A publish outside the principal's topics closes its connection (MQTT 3.1.1 has no negative PUBACK).
    authorizePublish: (client, packet, done) => {
      const principal = client ? principals.get(client) : undefined;
      if (principal && mayPublish(principal, packet.topic)) return done(null);
      log.warn({ client: client?.id, topic: packet.topic }, 'mqtt publish refused');
      done(new Error(`not allowed to publish to ${packet.topic}`));
    },
    // A subscription outside them is refused in the SUBACK (0x80); the others stand.
    authorizeSubscribe: (client, sub, done) => {
      const principal = client ? principals.get(client) : undefined;
      if (principal && maySubscribe(principal, sub.topic)) return done(null, sub);
      log.warn({ client: client?.id, topic: sub.topic }, 'mqtt subscribe refused');
      done(null, null as unknown as typeof sub);
    },
  });
  aedes.on('clientError', (client, err) => log.warn({ client: client?.id, err: err.message }, 'mqtt client error'));
  aedes.on('connectionError', (client, err) => log.warn({ client: client?.id, err: err.message }, 'mqtt connection error'));

  const accept = (socket: Socket) => {
    // Nagle adds 40-90 ms to each QoS 1 round trip ([DESIGN §3]).
    socket.setNoDelay(true);
    if (guarded(socket, () => socket.destroy(), socket.remoteAddress)) aedes.handle(socket);
  };
  // The server's own link connects here first, on loopback: no gateway session exists before the server
  // has subscribed and registered its handlers (a report PUBACKed to nobody would be lost).
  const internal: Server = createServer(accept);
  internal.listen(0, '127.0.0.1');
  await once(internal, 'listening');
  const tcp: Server = createServer(accept);

  let wss: WebSocketServer | undefined;
  const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (new URL(req.url ?? '/', 'http://x').pathname !== opts.wsPath) return;
    (socket as Socket).setNoDelay(true);
    wss?.handleUpgrade(req, socket, head, (ws) => {
      const stream = createWebSocketStream(ws);
      if (guarded(stream, () => ws.terminate(), req.socket.remoteAddress)) aedes.handle(stream, req);
    });
  };
  let port = opts.port;
  let http: HttpServer | undefined;
  const closeListeners = async () => {
    http?.off('upgrade', upgrade);
    if (tcp.listening) await new Promise<void>((r) => tcp.close(() => r()));
  };

  return {
    get port() {
      return port;
    },
    internalPort: (internal.address() as AddressInfo).port,
    async open(httpServer) {
      tcp.listen(opts.port, opts.host);
      await once(tcp, 'listening');
      port = (tcp.address() as AddressInfo).port;
      if (httpServer) {
        http = httpServer;
        // One WebSocket message carries at most one packet's worth (a packet over several is caught by the scanner).
        wss = new WebSocketServer({ noServer: true, maxPayload: PACKET_CAPS.publish + 16 });
        httpServer.on('upgrade', upgrade);
      }
    },
    closeListeners,
    clients: () => aedes.connectedClients,
    guard: () => ({ ...counts }),
    onSubscribe(fn) {
      const listener = (subs: { topic: string }[], client: { id: string } | null) => {
        const filters = subs.map((x) => x.topic);
        if (client) fn(client.id, filters);
      };
      aedes.on('subscribe', listener);
      return () => aedes.off('subscribe', listener);
    },
    // aedes keeps connected clients by id in `clients`; its type definitions leave it out.
    disconnect: (clientId) => (aedes as unknown as { clients: Record<string, { close(): void } | undefined> }).clients[clientId]?.close(),
    async stop() {
      await closeListeners();
      for (const client of wss?.clients ?? []) client.terminate();
      wss?.close();
      await new Promise<void>((r) => aedes.close(() => r()));
      await new Promise<void>((r) => internal.close(() => r()));
    },
  };
}
