import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { onRequestAsyncHookHandler } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { SEED_DIR } from '../db/maps.ts';
import { SESSION_COOKIE } from '../http/auth.ts';
import { ErrorBody } from '../http/errors.ts';
import { bearer } from '../http/schemas.ts';
import type { Scopes } from '../http/scope.ts';
import type { LiveService, LiveStation } from '../services/live-service.ts';

const LiveStationBody = z.object({
  code: z.string(),
  name: z.string(),
  unitCode: z.string(),
  unitName: z.string(),
  latitude: z.number().nullable(),
  longitude: z.number().nullable(),
  online: z.boolean(),
  lastSeenAt: z.date().nullable(),
  state: z.enum(['offline', 'playing', 'alert', 'online']),
  playing: z.object({ occurrenceId: z.string(), title: z.string(), priority: z.string(), startedAt: z.date().nullable() }).nullable(),
  alerts: z.number(),
});

/** The outlines file as shipped: the 2024 districts of Hanoi, each a GeoJSON MultiPolygon of [lon, lat]. */
interface Outlines {
  name: string;
  level2s: { level2_id: string; name: string; coordinates: number[][][][] }[];
}
const OUTLINES_FILE = join(SEED_DIR, 'hanoi-districts-2024.geo.json');

/** A comment line every 15 s keeps proxies from closing a quiet stream. */
const KEEPALIVE_MS = 15_000;
/** A browser that stops reading: past this much unsent, its stream is closed (it reconnects and gets a snapshot). */
const MAX_BUFFERED_BYTES = 1 << 20;

export const liveRoutes: FastifyPluginAsyncZod<{ live: LiveService; scopes: Scopes; auth: onRequestAsyncHookHandler }> = async (
  app,
  { live, scopes, auth },
) => {
  let outlines: string | undefined;
  app.get(
    '/map/outlines',
    {
      onRequest: auth,
      schema: {
        tags: ['monitoring'],
        summary: "Outlines for the live map: Hanoi's 2024 districts (GeoJSON MultiPolygons, [longitude, latitude])",
        description:
          'Shipped with the server (no tile server). Districts were abolished by the 2025 reform; the outlines orient the map only.',
        security: bearer,
        response: {
          200: z.object({
            name: z.string(),
            asOf: z.string(),
            districts: z.array(z.object({ code: z.string(), name: z.string(), polygons: z.array(z.array(z.array(z.array(z.number())))) })),
          }),
        },
      },
    },
    async (_request, reply) => {
      outlines ??= (() => {
        const f = JSON.parse(readFileSync(OUTLINES_FILE, 'utf8')) as Outlines;
        return JSON.stringify({
          name: f.name,
          asOf: '2024',
          districts: f.level2s.map((d) => ({ code: d.level2_id, name: d.name, polygons: d.coordinates })),
        });
      })();
      reply.header('cache-control', 'private, max-age=86400');
      return reply.type('application/json; charset=utf-8').send(outlines as never);
    },
  );

  app.get(
    '/live/stations',
    {
      onRequest: auth,
      schema: {
        tags: ['monitoring'],
        summary: 'Every station of your units with its live state (offline, playing, alert, online)',
        description:
          'state: offline when the station is not online; else playing when an airing has its start proof and no verdict yet; else alert when an alert is open; else online.',
        security: bearer,
        response: { 200: z.object({ items: z.array(LiveStationBody) }) },
      },
    },
    async (request) => ({ items: await live.stations(await scopes.subtree(request.user)) }),
  );

  app.get(
    '/live',
    {
      onRequest: auth,
      schema: {
        tags: ['monitoring'],
        summary: 'Server-sent events: a snapshot of your stations, then each station whose state changes',
        description:
          'text/event-stream. `event: snapshot` carries {items: LiveStation[]} (as GET /live/stations); `event: station` carries {items} of the stations that changed. ' +
          'One stream per session: opening another ends the first. A stream whose reader falls 1 MB behind is closed; reconnecting gets a new snapshot.',
        security: bearer,
        response: { 200: z.string().describe('text/event-stream'), 401: ErrorBody },
      },
    },
    async (request, reply) => {
      const scope = await scopes.subtree(request.user);
      const credential = request.cookies?.[SESSION_COOKIE] ?? request.headers.authorization ?? request.id;
      const key = createHash('sha256').update(`${request.user?.id}\n${credential}`).digest('base64url');
      const res = reply.raw;
      let closed = false;
      // Changes pushed while the snapshot is read wait for it; every change is read again after it
      // committed, so what arrives last is the newest state.
      let waiting: LiveStation[][] | undefined = [];
      const write = (text: string) => {
        if (closed) return;
        res.write(text);
        if (res.writableLength > MAX_BUFFERED_BYTES) close();
      };
      const event = (name: string, stations: LiveStation[]) => write(`event: ${name}\ndata: ${JSON.stringify({ items: stations })}\n\n`);
      const close = () => {
        if (closed) return;
        closed = true;
        clearInterval(keepalive);
        forget();
        res.end();
      };
      const forget = live.open(key, {
        scope,
        send: (name, stations) => (waiting ? waiting.push(stations) : event(name, stations)),
        close,
      });
      const keepalive = setInterval(() => write(': keepalive\n\n'), KEEPALIVE_MS);
      keepalive.unref();
      request.raw.on('close', close);
      let items: LiveStation[];
      try {
        items = await live.stations(scope);
      } catch (err) {
        closed = true;
        clearInterval(keepalive);
        forget();
        throw err;
      }
      reply.hijack();
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-accel-buffering': 'no',
        connection: 'keep-alive',
      });
      write('retry: 2000\n\n');
      event('snapshot', items);
      for (const stations of waiting) event('station', stations);
      waiting = undefined;
    },
  );
};
