// What a request changed, for the audit log's before/after: a route sets request.auditChange and the
// audit hook in app.ts writes it with the request's row.
import type { FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyRequest {
    /** What the request changed, as it was and as it became. */
    auditChange?: { before?: unknown; after?: unknown };
  }
}

/** Records the fields a request named (its body's keys), as they were and as they became. */
export function recordFields<T extends object>(request: FastifyRequest, before: T, after: T, fields: (keyof T)[]): void {
  const pick = (row: T) => Object.fromEntries(fields.map((f) => [f, row[f]]));
  request.auditChange = { before: pick(before), after: pick(after) };
}
