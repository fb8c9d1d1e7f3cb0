// The embedded MQTT 3.1.1 broker (aedes): TCP, plus MQTT over WebSocket on the HTTP server.
// A province that outgrows it sets LP_MQTT_URL and this does not start.
import { once } from 'node:events';
import type { Server as HttpServer } from 'node:http';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { Aedes } from 'aedes';
import { createWebSocketStream, WebSocketServer } from 'ws';

export interface EmbeddedBroker {
  port: number;
  clients(): number;
  /** Closes a connected client's session now (a revoked device). */
  disconnect(clientId: string): void;
  stop(): Promise<void>;
}

export async function startEmbeddedBroker(opts: {
  host: string;
  port: number;
  /** When given, MQTT over WebSocket is accepted on this server at wsPath. */
  httpServer?: HttpServer;
  wsPath: string;
  /** Decides a CONNECT: username and password as given (absent for an anonymous client). */
  authenticate: (clientId: string, username: string | undefined, password: string | undefined) => Promise<boolean>;
  log: { warn(obj: object, msg: string): void };
}): Promise<EmbeddedBroker> {
  const aedes = await Aedes.createBroker({
    // Deliveries in flight before aedes queues; its queue drains recursively and overflows the stack when
    // thousands of gateways publish at once (moscajs/aedes#193, mcollina/mqemitter#204), so keep it wide.
    concurrency: 20_000,
    authenticate: (client, username, password, done) => {
      opts.authenticate(client.id, username || undefined, password?.toString('utf8')).then(
        (ok) => {
          if (ok) return done(null, true);
          // CONNACK 4: bad user name or password.
          const err = Object.assign(new Error('bad credentials'), { returnCode: 4 });
          opts.log.warn({ client: client.id, username }, 'mqtt login refused');
          done(err as Parameters<typeof done>[0], false);
        },
        () => done(Object.assign(new Error('auth failed'), { returnCode: 3 }) as Parameters<typeof done>[0], false),
      );
    },
  });
  aedes.on('clientError', (client, err) => opts.log.warn({ client: client?.id, err: err.message }, 'mqtt client error'));
  aedes.on('connectionError', (client, err) => opts.log.warn({ client: client?.id, err: err.message }, 'mqtt connection error'));

  const tcp: Server = createServer((socket: Socket) => {
    // Nagle adds 40-90 ms to each QoS 1 round trip ([DESIGN §3]).
    socket.setNoDelay(true);
    aedes.handle(socket);
  });
  tcp.listen(opts.port, opts.host);
  await once(tcp, 'listening');

  let wss: WebSocketServer | undefined;
  if (opts.httpServer) {
    wss = new WebSocketServer({ noServer: true });
    opts.httpServer.on('upgrade', (req, socket, head) => {
      if (new URL(req.url ?? '/', 'http://x').pathname !== opts.wsPath) return;
      (socket as Socket).setNoDelay(true);
      wss?.handleUpgrade(req, socket, head, (ws) => aedes.handle(createWebSocketStream(ws), req));
    });
  }

  return {
    port: (tcp.address() as AddressInfo).port,
    clients: () => aedes.connectedClients,
    // aedes keeps connected clients by id in `clients`; its type definitions leave it out.
    disconnect: (clientId) => (aedes as unknown as { clients: Record<string, { close(): void } | undefined> }).clients[clientId]?.close(),
    async stop() {
      for (const client of wss?.clients ?? []) client.terminate();
      wss?.close();
      await new Promise<void>((r) => aedes.close(() => r()));
      await new Promise<void>((r) => tcp.close(() => r()));
    },
  };
}
