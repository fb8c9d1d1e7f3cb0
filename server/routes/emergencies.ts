// Emergency alerts to an area: preview the area, raise, confirm (a second person), correct, cancel, follow
// the coverage, export the final report; and the prepared templates. An operator alerts inside their units only.
import type { onRequestAsyncHookHandler } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ErrorBody } from '../http/errors.ts';
import { bearer } from '../http/schemas.ts';
import { allow } from '../http/scope.ts';
import { CAP_MAX_BYTES } from '../services/cap.ts';
import type { CapIntake } from '../services/emergency-cap.ts';
import type { EmergencyService } from '../services/emergency-service.ts';
import type { EmergencyTemplates } from '../services/emergency-templates.ts';

const code = z.string().min(1).max(64);
const lat = z.number().min(-90).max(90);
const lon = z.number().min(-180).max(180);
export const AreaBody = z
  .strictObject({
    units: z.array(code).max(1000).optional(),
    stations: z.array(code).max(20_000).optional(),
    polygon: z
      .array(z.tuple([lat, lon]))
      .min(3)
      .max(1000)
      .optional()
      .describe('[lat, lon] points (WGS 84), as CAP writes them'),
    circle: z.strictObject({ lat, lon, radiusM: z.number().positive().max(500_000) }).optional(),
  })
  .describe('Units of any level, stations, or a polygon or circle matched against the stations’ coordinates (their union)');
const Content = z.union([
  z.strictObject({ mediaId: z.string().max(64) }),
  z.strictObject({
    text: z.string().trim().min(1).max(5000),
    voice: z
      .string()
      .regex(/^[a-z]{2,3}([-+][A-Za-z0-9]+)*$/)
      .optional(),
  }),
  z.strictObject({ template: code }),
]);
const Repeat = z.strictObject({
  count: z.int().min(1).max(100).optional(),
  intervalS: z.int().min(0).max(3600).optional(),
  until: z.coerce.date().optional(),
});
const Create = z.strictObject({
  status: z.enum(['actual', 'exercise', 'test']),
  headline: z.string().trim().min(1).max(200),
  area: AreaBody,
  content: Content,
  repeat: Repeat.optional(),
  validUntil: z.coerce.date().optional(),
});
const Patch = z.strictObject({
  headline: z.string().trim().min(1).max(200).optional(),
  content: Content.optional(),
  repeat: Repeat.optional(),
  validUntil: z.coerce.date().optional(),
});
const Id = z.object({ id: z.string().max(64) });
const errors = { 400: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 502: ErrorBody };
/** The alert as GET /emergencies/{id} answers it (described in the summary, not re-validated on the way out). */
const Alert = z.any();

export const emergencyRoutes: FastifyPluginAsyncZod<{
  emergencies: EmergencyService;
  templates: EmergencyTemplates;
  cap: CapIntake;
  auth: onRequestAsyncHookHandler;
}> = async (app, { emergencies, templates, cap, auth }) => {
  const tags = ['emergencies'];
  // CAP 1.2 documents arrive as XML text, size-limited before they are read.
  app.addContentTypeParser(
    ['application/cap+xml', 'application/xml', 'text/xml'],
    { parseAs: 'string', bodyLimit: CAP_MAX_BYTES },
    (_req, body, done) => done(null, body),
  );

  app.post(
    '/emergencies/cap',
    {
      onRequest: auth,
      schema: {
        tags,
        summary: 'Receive a CAP 1.2 alert (application/cap+xml): Alert raises, Update corrects, Cancel cancels',
        description:
          'Refused with a stable code: XML_DTD_REFUSED (any DOCTYPE or entity: no XXE, no entity expansion), MALFORMED_XML, NOT_CAP, CAP_NAMESPACE, ' +
          'INVALID_CAP (the CAP 1.2 rules), CAP_DRAFT, CAP_NOT_AN_ALERT, CAP_NO_AREA, CAP_UNKNOWN_SENDER / CAP_BAD_SIGNATURE (an enveloped signature ' +
          'that a configured sender did not make), CAP_SIGNATURE_REQUIRED (the area’s policy takes signed alerts only). Area: geocodes VN-UNIT ' +
          '(national unit code) and VN-STATION, polygons and circles. The Vietnamese info is spoken.',
        security: bearer,
        body: z.string().max(CAP_MAX_BYTES),
        response: { 201: Alert, ...errors },
      },
    },
    async (request, reply) => reply.status(201).send(await cap.receive(allow(request.user, 'command'), request.body)),
  );

  app.get(
    '/emergencies/:id/cap',
    {
      onRequest: auth,
      schema: {
        tags,
        summary: 'The alert as CAP 1.2 XML, for upstream systems',
        security: bearer,
        params: Id,
        produces: ['application/cap+xml'],
      },
    },
    async (request, reply) =>
      reply.type('application/cap+xml; charset=utf-8').send(await cap.export(allow(request.user, 'command'), request.params.id)),
  );
  app.post(
    '/emergencies/area',
    {
      onRequest: auth,
      schema: {
        tags,
        summary: 'The stations an area reaches (with coordinates, for the map) and whether an actual alert there needs a second person',
        security: bearer,
        body: AreaBody,
        response: { 200: z.any(), 400: ErrorBody, 403: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) => emergencies.preview(allow(request.user, 'command'), request.body),
  );

  app.post(
    '/emergencies',
    {
      onRequest: auth,
      schema: {
        tags,
        summary: 'Raise an emergency alert: it airs at once on every loudspeaker of the area, preempting what plays',
        description:
          'An actual alert reaching more than one commune waits (state pending) for a second person to confirm it within the time ' +
          'the unit’s policy names (emergencyConfirmMinutes, default 10). Exercise and test alerts announce themselves and never count as real. ' +
          'Content: an approved library item (mediaId), typed text spoken now (text), or a prepared template (template). Repeat: count and ' +
          'interval, or until a time. Valid for an hour unless validUntil says otherwise (a day at most): a gateway that comes back meanwhile airs it late.',
        security: bearer,
        body: Create,
        response: { 201: Alert, ...errors },
      },
    },
    async (request, reply) => reply.status(201).send(await emergencies.create(allow(request.user, 'command'), request.body)),
  );

  app.get(
    '/emergencies',
    { onRequest: auth, schema: { tags, summary: 'Alerts in your units, newest first', security: bearer } },
    async (request) => ({ emergencies: await emergencies.list(allow(request.user, 'command')) }),
  );

  app.get(
    '/emergencies/:id',
    {
      onRequest: auth,
      schema: {
        tags,
        summary:
          'One alert with its coverage now: counts and every station’s state (not-reached, received, playing, completed, failed) and why',
        security: bearer,
        params: Id,
        response: { 200: Alert, 404: ErrorBody },
      },
    },
    async (request) => emergencies.get(allow(request.user, 'command'), request.params.id),
  );

  app.get(
    '/emergencies/:id/report.csv',
    {
      onRequest: auth,
      schema: { tags, summary: 'The alert’s report per station, as CSV (UTF-8 with BOM, for Excel)', security: bearer, params: Id },
    },
    async (request, reply) => {
      const alert = await emergencies.get(allow(request.user, 'command'), request.params.id);
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="alert-${alert.id}.csv"`)
        .send(reportCsv(alert));
    },
  );

  app.post(
    '/emergencies/:id/confirm',
    {
      onRequest: auth,
      schema: {
        tags,
        summary: 'Confirm a pending actual alert (a second person, within its time limit): it airs then',
        security: bearer,
        params: Id,
      },
    },
    async (request) => emergencies.confirm(allow(request.user, 'command'), request.params.id),
  );

  app.patch(
    '/emergencies/:id',
    {
      onRequest: auth,
      schema: {
        tags,
        summary: 'Correct an alert (headline, content, repeat, validity): an active one airs again at once in its corrected form',
        security: bearer,
        params: Id,
        body: Patch,
        response: { 200: Alert, ...errors },
      },
    },
    async (request) => emergencies.update(allow(request.user, 'command'), request.params.id, request.body),
  );

  app.post(
    '/emergencies/:id/cancel',
    {
      onRequest: auth,
      schema: {
        tags,
        summary: 'End an alert everywhere now (the cut airings report CANCELLED); a template’s "end of alert" then airs once',
        security: bearer,
        params: Id,
      },
    },
    async (request) => emergencies.cancel(allow(request.user, 'command'), request.params.id),
  );

  app.get(
    '/emergency-templates',
    { onRequest: auth, schema: { tags, summary: 'Prepared alerts: kept on every gateway below their unit in advance', security: bearer } },
    async (request) => ({ templates: await templates.list(allow(request.user, 'command')) }),
  );

  app.post(
    '/emergency-templates',
    {
      onRequest: auth,
      schema: {
        tags,
        summary: 'Prepare an alert from approved audio (and an optional "end of alert"); the gateways below the unit fetch it now',
        security: bearer,
        body: z.strictObject({
          code: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
          title: z.string().trim().min(1).max(200),
          text: z.string().max(5000).default(''),
          unit: code.optional(),
          mediaId: z.string().max(64),
          endMediaId: z.string().max(64).optional(),
        }),
        response: { 201: z.any(), 400: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (request, reply) => reply.status(201).send(await templates.create(allow(request.user, 'command'), request.body)),
  );
};

/** One row per station: what reached it and what it aired. */
function reportCsv(alert: Awaited<ReturnType<EmergencyService['get']>>): string {
  const cell = (v: unknown) => {
    const s = v === null || v === undefined ? '' : v instanceof Date ? v.toISOString() : String(v);
    return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  const head = ['station', 'name', 'state', 'reason', 'receivedAt', 'startedAt', 'endedAt', 'playedMs', 'late', 'lateMs'];
  const lines = [
    `# ${alert.headline} (${alert.status}, ${alert.state}), raised by ${alert.createdBy} at ${alert.createdAt.toISOString()}`,
    head.join(','),
    ...alert.stations.map((s) =>
      [s.station, s.name, s.state, s.reason, s.receivedAt, s.startedAt, s.endedAt, s.playedMs, s.late, s.lateMs].map(cell).join(','),
    ),
  ];
  return `\uFEFF${lines.join('\n')}\n`;
}
