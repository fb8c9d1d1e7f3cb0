// What gateways call over HTTP: enrollment, the server's public key, time, and audio by hash.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { EnrollRequest, EnrollResponse, ServerKeyInfo, TimeResponse } from '#protocol';
import { ErrorBody } from '../http/errors.ts';
import type { ServerKey } from '../keys.ts';
import { type BlobStore, CONTENT_TYPES } from '../media/blob-store.ts';
import type { DeviceService } from '../services/device-service.ts';
import { notFound } from '../services/errors.ts';

export const gatewayRoutes: FastifyPluginAsyncZod<{ devices: DeviceService; key: ServerKey; blobs: BlobStore; now: () => Date }> = async (
  app,
  { devices, key, blobs, now },
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
        summary: "The server's signing key, and every key gateways should trust now (during a rotation, more than one)",
        response: {
          200: z.object({
            kid: z.string(),
            publicKeyHex: z.string(),
            keys: z.array(ServerKeyInfo),
          }),
        },
      },
    },
    async () => ({ kid: key.signer.kid, publicKeyHex: key.publicKeyHex, keys: key.trusted() }),
  );

  app.post(
    '/api/v1/gateway/enroll',
    {
      schema: {
        tags: ['gateway'],
        summary: 'Enroll a gateway with its one-time token: records its public key, returns MQTT credentials and the server keys ([P-5.1])',
        body: EnrollRequest,
        response: { 200: EnrollResponse, 400: ErrorBody, 401: ErrorBody },
      },
    },
    async (request) => devices.enroll(request.body),
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
      // [P-6.1] A hash names one content forever; @fastify/static's own header (max-age=0) is turned off.
      reply.header('cache-control', 'public, max-age=31536000, immutable');
      return reply.type(CONTENT_TYPES[blob.kind]).sendFile(blob.fileName, { cacheControl: false });
    },
  );
};
