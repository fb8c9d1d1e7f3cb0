// Errors of the domain: a stable code (the API's error code), a kind saying what went wrong in terms of
// the domain, and a message for people. Nothing here knows HTTP: only http/errors.ts maps a kind to a
// status code.

export const ERROR_KINDS = [
  /** The input is malformed or breaks a rule of its own. */
  'invalid',
  /** Nobody is signed in, or the credentials are wrong. */
  'unauthenticated',
  /** Signed in, but this is outside the user's role or units. */
  'forbidden',
  'not-found',
  /** The input arrived too slowly. */
  'input-timeout',
  /** The request conflicts with the current state (a transition not allowed, a duplicate). */
  'conflict',
  'too-large',
  /** Well-formed, but cannot be acted on (a file that is not audio, a schedule outside limits). */
  'unprocessable',
  'rate-limited',
  /** A service this one depends on (TTS, a gateway) failed. */
  'upstream',
  /** A gateway or service did not answer in time. */
  'upstream-timeout',
  /** The server is stopping, or a part of it is down. */
  'unavailable',
  'internal',
] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];

/** A stored kind read back; anything unknown is an internal failure. */
export const asErrorKind = (kind: string | null | undefined): ErrorKind =>
  (ERROR_KINDS as readonly string[]).includes(kind ?? '') ? (kind as ErrorKind) : 'internal';

export class DomainError extends Error {
  constructor(
    readonly kind: ErrorKind,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export const badRequest = (code: string, message: string, details?: unknown) => new DomainError('invalid', code, message, details);
export const notFound = (code: string, message: string) => new DomainError('not-found', code, message);
export const forbidden = (code: string, message: string) => new DomainError('forbidden', code, message);
export const unprocessable = (code: string, message: string, details?: unknown) => new DomainError('unprocessable', code, message, details);
export const conflict = (code: string, message: string) => new DomainError('conflict', code, message);
