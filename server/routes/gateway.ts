// What gateways call over HTTP: the server's public key, device key registration, and audio by hash.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { publicKeyFromHex, TimeResponse } from '#protocol';
import type { Db } from '../db/client.ts';
import { AppError, badRequest, ErrorBody, notFound } from '../http/errors.ts';
import type { ServerKey } from '../keys.ts';
import { type BlobStore, CONTENT_TYPES } from '../media/blob-store.ts';
import { deviceKid } from '../services/report-service.ts';

export const gatewayRoutes: FastifyPluginAsyncZod<{ db: Db; key: ServerKey; blobs: BlobStore; now: () => Date }> = async (
  app,
  { db, key, blobs, now },
) => {
  // [P-5.9] The device takes t0 before the request and t3 after the response:
  // offset = ((receivedAt - t0) + (sentAt - t3)) / 2, round trip = (t3 - t0) - (sentAt - receivedAt).
  app.get(
    '/api/v1/gateway/time',
    {
      schema: {
        tags: ['gateway'],
        summary: 'Server time for clock-offset measurement',
        response: { 200: TimeResponse },
      },
    },
    async () => {
      const receivedAt = now().toISOString();
      return { receivedAt, sentAt: now().toISOString() };
    },
  );

  app.get(
    '/api/v1/gateway/server-key',
    {
      schema: {
        tags: ['gateway'],
        summary: "The server's manifest-signing public key",
        response: { 200: z.object({ kid: z.string(), publicKeyHex: z.string() }) },
      },
    },
    async () => ({ kid: key.signer.kid, publicKeyHex: key.publicKeyHex }),
  );

  // Trust on first use until enrollment tokens arrive (issue #5): the first key registered for a
  // station is kept; a different key later is refused.
  app.put(
    '/api/v1/gateway/stations/:code/device-key',
    {
      schema: {
        tags: ['gateway'],
        summary: "Register a station gateway's Ed25519 public key (first registration wins)",
        params: z.object({ code: z.string().max(64) }),
        body: z.object({ publicKeyHex: z.string().regex(/^[0-9a-f]{64}$/) }),
        response: { 200: z.object({ kid: z.string(), registered: z.boolean() }), 400: ErrorBody, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (request) => {
      const { code } = request.params;
      const { publicKeyHex } = request.body;
      try {
        publicKeyFromHex(publicKeyHex);
      } catch {
        throw badRequest('INVALID_KEY', 'not an Ed25519 public key');
      }
      const station = await db.station.findUnique({ where: { code } });
      if (!station) throw notFound('UNKNOWN_STATION', `unknown station ${code}`);
      if (station.deviceKeyHex && station.deviceKeyHex !== publicKeyHex) {
        throw new AppError(409, 'KEY_MISMATCH', 'another device key is registered for this station');
      }
      if (!station.deviceKeyHex) {
        const { count } = await db.station.updateMany({
          where: { id: station.id, deviceKeyHex: null },
          data: { deviceKeyHex: publicKeyHex },
        });
        if (count === 0) throw new AppError(409, 'KEY_MISMATCH', 'another device key was registered concurrently');
        return { kid: deviceKid(publicKeyHex), registered: true };
      }
      return { kid: deviceKid(publicKeyHex), registered: false };
    },
  );

  app.get(
    '/blobs/:sha256',
    {
      schema: {
        tags: ['gateway'],
        summary: 'Audio by sha256 (Ogg Opus, or the MP3 rendition for legacy gateways); supports Range requests for resumed downloads',
        params: z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/) }),
        produces: ['audio/ogg', 'audio/mpeg'],
      },
    },
    async (request, reply) => {
      const { sha256 } = request.params;
      const blob = await blobs.find(sha256);
      if (!blob) throw notFound('UNKNOWN_BLOB', `no audio ${sha256}`);
      reply.header('cache-control', 'public, max-age=31536000, immutable');
      return reply.type(CONTENT_TYPES[blob.kind]).sendFile(blob.fileName);
    },
  );
};
