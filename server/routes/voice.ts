// Live voice from the console ([P-5.6]): a WebSocket per speaker, authenticated by the session (or a bearer
// token) before the upgrade. Text messages steer it ({"type":"start",…}, {"type":"stop"}); binary messages are
// the audio, one 20 ms frame each. The server answers with started, status (every second), ended and error
// messages, each error with a stable code. The broadcasts are listed with their recordings.
import { EventEmitter } from 'node:events';
import { createReadStream } from 'node:fs';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { WebSocket } from 'ws';
import { z } from 'zod';
import { ErrorBody } from '../http/errors.ts';
import { bearer } from '../http/schemas.ts';
import { allow, requireCapability } from '../http/scope.ts';
import { DomainError, forbidden } from '../services/errors.ts';
import type { AuthUser } from '../services/user-service.ts';
import type { VoiceService, VoiceSession } from '../services/voice-service.ts';

const code = z.string().min(1).max(64);
/** What the speaker's page may say in text. */
const Message = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('start'),
    area: z.strictObject({ units: z.array(code).max(1000).optional(), stations: z.array(code).max(20_000).optional() }),
    priority: z.enum(['normal', 'priority', 'emergency']).default('priority'),
    codec: z.enum(['opus', 'pcm']).default('opus'),
  }),
  z.strictObject({ type: z.literal('stop') }),
]);
/** A WebSocket message larger than this is refused (a 20 ms PCM frame is 1,920 bytes; a start with 20,000 stations fits). */
export const VOICE_MAX_MESSAGE_BYTES = 512 * 1024;
const STATUS_EVERY_MS = 1000;
/** Where a speaker's socket connects (the route below, under the API prefix). */
export const VOICE_WS_PATH = '/api/v1/voice/ws';

/**
 * The HTTP port also carries the embedded broker's MQTT over WebSocket (/mqtt, its own upgrade listener):
 * @fastify/websocket is given only the upgrades of the live voice route, else it would answer /mqtt with a 404.
 */
export function voiceUpgrades(server: Server): Server {
  const only = new EventEmitter();
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (new URL(req.url ?? '/', 'http://x').pathname === VOICE_WS_PATH) only.emit('upgrade', req, socket, head);
  });
  return only as unknown as Server;
}

export const voiceRoutes: FastifyPluginAsyncZod<{ voice: VoiceService; auth: onRequestAsyncHookHandler }> = async (
  app,
  { voice, auth },
) => {
  const tags = ['live voice'];
  app.get(
    '/voice/ws',
    { onRequest: auth, preValidation: [requireCapability('command'), sameOrigin], websocket: true, schema: { hide: true } },
    (socket, request) => speaker(voice, socket, allow(request.user, 'command'), (obj, msg) => request.log.warn(obj, msg)),
  );

  app.get(
    '/voice/broadcasts',
    {
      onRequest: auth,
      schema: {
        tags,
        summary: 'Live broadcasts in your units, newest first: who spoke, the area, start, end, the airings’ outcome and the recording',
        security: bearer,
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(500).default(50) }),
        response: { 200: z.array(z.any()), 403: ErrorBody },
      },
    },
    async (request) => voice.list(request.user as AuthUser, request.query.limit),
  );

  app.get(
    '/voice/broadcasts/:id/recording',
    {
      onRequest: auth,
      schema: {
        tags,
        summary: 'What was said: the broadcast’s recording (Ogg Opus)',
        security: bearer,
        params: z.object({ id: z.string().max(64) }),
        produces: ['audio/ogg'],
        response: { 200: z.any(), 403: ErrorBody, 404: ErrorBody },
      },
    },
    async (request, reply) => {
      const file = await voice.recording(request.user as AuthUser, request.params.id);
      return reply
        .type('audio/ogg')
        .header('content-disposition', `attachment; filename="live-${request.params.id}.ogg"`)
        .send(createReadStream(file));
    },
  );
};

/**
 * A browser opens a WebSocket to any site with that site's cookies: one from another origin is refused, so
 * no page elsewhere can speak through a signed-in operator's session (cross-site WebSocket hijacking).
 */
async function sameOrigin(request: FastifyRequest): Promise<void> {
  const origin = request.headers.origin;
  if (origin === undefined) return;
  let host: string | undefined;
  try {
    host = new URL(origin).host;
  } catch {}
  if (host !== request.headers.host)
    throw forbidden('CROSS_ORIGIN', `a live broadcast is opened from this server's own pages only, not ${origin}`);
}

/** One speaker's socket: start, frames, stop; the broadcast ends when the socket closes. */
function speaker(voice: VoiceService, socket: WebSocket, user: AuthUser, warn: (obj: object, msg: string) => void): void {
  let session: VoiceSession | undefined;
  let starting = false;
  let timer: NodeJS.Timeout | undefined;
  const send = (m: object) => {
    if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(m));
  };
  const fail = (err: unknown) => {
    const e = err instanceof DomainError ? err : undefined;
    if (!e) warn({ err: (err as Error).message }, 'live voice failed');
    send({ type: 'error', code: e?.code ?? 'INTERNAL', message: e?.message ?? 'internal error' });
  };
  const end = async (reason: 'stopped' | 'lost') => {
    clearInterval(timer);
    const s = session;
    if (!s || s.ended) return;
    await voice.stop(s, reason);
    send({ type: 'ended', id: s.id, reason, status: await voice.status(s) });
  };
  socket.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) {
      if (!session) return send({ type: 'error', code: 'NOT_STARTED', message: 'send {"type":"start"} and wait for "started" first' });
      if (session.ended) return;
      try {
        voice.frame(session, data);
      } catch (err) {
        fail(err);
      }
      return;
    }
    let msg: z.infer<typeof Message>;
    try {
      msg = Message.parse(JSON.parse(data.toString('utf8')));
    } catch (err) {
      return send({ type: 'error', code: 'INVALID_MESSAGE', message: err instanceof z.ZodError ? z.prettifyError(err) : 'not JSON' });
    }
    if (msg.type === 'stop') return void end('stopped').catch(fail);
    if (session || starting) return send({ type: 'error', code: 'ALREADY_STARTED', message: 'this connection carries one broadcast' });
    starting = true;
    voice
      .start(user, msg)
      .then(async (s) => {
        session = s;
        // The socket may have closed while the broadcast was being set up.
        if (socket.readyState !== socket.OPEN) return end('lost');
        send({ type: 'started', id: s.id, airing: s.airing, streamId: s.streamId, stations: s.stations, frameMs: 20 });
        timer = setInterval(() => {
          if (!s.ended) return void voice.status(s).then((st) => send({ type: 'status', ...st }), fail);
          // Ended by the server (the speaker went quiet): said once.
          clearInterval(timer);
          send({ type: 'ended', id: s.id, reason: s.ended });
        }, STATUS_EVERY_MS);
        timer.unref();
      })
      .catch((err) => {
        starting = false;
        fail(err);
      });
  });
  socket.on(
    'close',
    () => void end(session?.ended ? 'stopped' : 'lost').catch((err: Error) => warn({ err: err.message }, 'live voice end failed')),
  );
}
