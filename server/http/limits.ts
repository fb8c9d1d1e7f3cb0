// What one client may hold of the HTTP server: timeouts for headers, bodies and idle connections, and a
// cap on the connections one address keeps open before any of them has authenticated. Slow-body and
// connection-hoarding attacks end here, before a route runs.
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DomainError } from '../services/errors.ts';

export interface HttpLimits {
  /** A request body (other than an upload) must arrive whole within this. */
  bodyTimeoutMs: number;
  /** An upload that sends nothing for this long is refused. */
  uploadIdleTimeoutMs: number;
  /** An upload must arrive whole within this; also the server's whole-request limit. */
  uploadTimeoutMs: number;
  headersTimeoutMs: number;
  keepAliveTimeoutMs: number;
  /** Connections one address may hold open before one of them authenticates; more are closed at once. */
  anonymousConnectionsPerAddress: number;
  /** How long an upload's answer waits for its processing before it is 202 with the job. */
  uploadWaitMs: number;
}

/** Open connections by address that have not carried an authenticated request; trusted ones are not counted. */
export class ConnectionGuard {
  private readonly open = new Map<string, number>();
  private readonly counted = new WeakSet<Socket>();
  /** Connections closed at once because their address held too many. */
  refused = 0;

  constructor(private readonly perAddress: number) {}

  accept(socket: Socket): void {
    const address = socket.remoteAddress ?? '';
    const held = this.open.get(address) ?? 0;
    if (held >= this.perAddress) {
      this.refused++;
      socket.destroy();
      return;
    }
    this.open.set(address, held + 1);
    this.counted.add(socket);
    socket.once('close', () => this.release(socket, address));
  }

  /** A request on this connection authenticated: it no longer counts against its address. */
  trust(socket: Socket | undefined): void {
    if (socket && this.counted.has(socket)) this.release(socket, socket.remoteAddress ?? '');
  }

  /** Connections the address holds now (before authentication). */
  held(address: string): number {
    return this.open.get(address) ?? 0;
  }

  private release(socket: Socket, address: string): void {
    if (!this.counted.delete(socket)) return;
    const held = (this.open.get(address) ?? 1) - 1;
    if (held > 0) this.open.set(address, held);
    else this.open.delete(address);
  }
}

/** The HTTP server Fastify runs on (its serverFactory), with the timeouts set and the guard on every connection. */
export function limitedServer(limits: HttpLimits, guard: ConnectionGuard) {
  return (handler: RequestListener<typeof IncomingMessage, typeof ServerResponse>): Server => {
    const server = createServer(
      {
        headersTimeout: limits.headersTimeoutMs,
        // The whole-request limit Node enforces; bodies other than uploads have their own shorter deadline.
        requestTimeout: limits.uploadTimeoutMs,
        keepAliveTimeout: limits.keepAliveTimeoutMs,
        // How often Node checks the two limits above (its default, 30 s, would let a slow header live 40 s).
        connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
      },
      handler,
    );
    server.on('connection', (socket: Socket) => guard.accept(socket));
    return server;
  };
}

/** Ends a request that can no longer be answered through Fastify: a 408 if nothing went out yet, then the socket. */
function abandon(request: FastifyRequest, reply: FastifyReply, code: string, message: string): void {
  const socket = request.raw.socket;
  if (!reply.raw.headersSent && socket.writable) {
    reply.raw.writeHead(408, { 'content-type': 'application/json; charset=utf-8', connection: 'close' });
    reply.raw.end(JSON.stringify({ error: { code, message } }), () => socket.destroy());
  } else socket.destroy();
  // Anything still arriving is not read.
  setImmediate(() => socket.destroy());
}

/**
 * An onRequest hook: a body (other than multipart, which the upload guard watches) must be parsed
 * within the deadline, else the request is answered 408 and its connection closed; a request answered
 * before its body was in has its connection closed.
 */
export function bodyDeadline(limits: HttpLimits) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const hasBody = request.headers['content-length'] !== undefined || request.headers['transfer-encoding'] !== undefined;
    if (!hasBody) return;
    // Answered before its body was in (refused at once: no token, rate-limited): Node would go on reading
    // the rest to reuse the connection, and a slow or endless body would hold it. The answer says
    // "Connection: close" (closeUnfinished); once it is out the connection is half-closed, what still
    // arrives is discarded, and a second later it is gone (a lingering close: the client reads the answer).
    reply.raw.once('finish', () => {
      if (request.raw.complete) return;
      const socket = request.raw.socket;
      request.raw.resume();
      socket.end();
      setTimeout(() => socket.destroy(), 1000).unref();
    });
    if (request.isMultipart()) return;
    const timer = setTimeout(() => {
      // Answered meanwhile (refused before its body was read): the connection may already carry the next request.
      if (reply.raw.writableEnded) return;
      abandon(request, reply, 'BODY_TIMEOUT', `the request body did not arrive within ${limits.bodyTimeoutMs} ms`);
    }, limits.bodyTimeoutMs);
    timer.unref();
    request.bodyTimer = timer;
    reply.raw.once('finish', () => clearTimeout(timer));
  };
}

declare module 'fastify' {
  interface FastifyRequest {
    bodyTimer?: NodeJS.Timeout;
  }
}

/** An onSend hook: an answer that goes out before its request's body was in closes the connection. */
export async function closeUnfinished(request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
  const hasBody = request.headers['content-length'] !== undefined || request.headers['transfer-encoding'] !== undefined;
  if (hasBody && !request.raw.complete) reply.header('connection', 'close');
  return payload;
}

/** The preValidation side of bodyDeadline: the body is in. */
export async function bodyArrived(request: FastifyRequest): Promise<void> {
  if (request.bodyTimer) clearTimeout(request.bodyTimer);
}

/**
 * Watches an upload's bytes: nothing for idleMs, or not done within totalMs, and `failed` rejects with
 * a 408 (the route refuses, removes its partial file and closes the connection). `done()` when the body is in.
 */
export function uploadGuard(request: FastifyRequest, reply: FastifyReply, limits: HttpLimits) {
  const socket = request.raw.socket;
  let reject!: (err: DomainError) => void;
  const failed = new Promise<never>((_resolve, r) => {
    reject = r;
  });
  failed.catch(() => {});
  const fail = (err: DomainError) => {
    stop();
    reply.header('connection', 'close');
    reply.raw.once('finish', () => socket.destroy());
    reject(err);
  };
  // Progress is the socket's byte count (Node's HTTP parser reads the socket directly, without data events).
  let seen = socket.bytesRead;
  let lastProgress = performance.now();
  const started = lastProgress;
  const watch = setInterval(
    () => {
      const at = performance.now();
      if (socket.bytesRead !== seen) {
        seen = socket.bytesRead;
        lastProgress = at;
      }
      if (at - started >= limits.uploadTimeoutMs)
        fail(new DomainError('input-timeout', 'UPLOAD_TIMEOUT', `the upload did not finish within ${limits.uploadTimeoutMs} ms`));
      else if (at - lastProgress >= limits.uploadIdleTimeoutMs)
        fail(new DomainError('input-timeout', 'UPLOAD_STALLED', `the upload sent nothing for ${limits.uploadIdleTimeoutMs} ms`));
    },
    Math.max(50, Math.min(1000, limits.uploadIdleTimeoutMs / 4)),
  );
  watch.unref();
  const stop = () => clearInterval(watch);
  return { failed, done: stop };
}
