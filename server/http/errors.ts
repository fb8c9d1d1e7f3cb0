import { z } from 'zod';
import { DomainError, type ErrorKind } from '../services/errors.ts';

// Errors that cross the API carry a stable code; the message is for people. The domain says what kind
// of error it is (services/errors.ts); only here does a kind become an HTTP status.
export const STATUS: Record<ErrorKind, number> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  'not-found': 404,
  'input-timeout': 408,
  conflict: 409,
  'too-large': 413,
  unprocessable: 422,
  'rate-limited': 429,
  internal: 500,
  upstream: 502,
  unavailable: 503,
  'upstream-timeout': 504,
};

/** The HTTP status of an error of the domain. */
export const statusOf = (err: DomainError): number => STATUS[err.kind];

export { DomainError };

/** The shape of every error response. */
export const ErrorBody = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional(), requestId: z.string().optional() }),
});
