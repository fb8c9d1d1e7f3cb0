// The JSON body parser: nesting is limited before anything is parsed (a deeply nested junk field is
// refused 400 TOO_DEEP, so nothing downstream walks an unbounded tree), and prototype poisoning
// (__proto__, constructor.prototype) is refused as Fastify's own parser does. An empty body is no body.
import type { FastifyRequest } from 'fastify';
import secureJson from 'secure-json-parse';
import { DomainError } from '../services/errors.ts';

/** Deepest nesting of objects and arrays a body may have; the API's deepest body is far shallower. */
export const MAX_JSON_DEPTH = 16;

/** The deepest nesting of a JSON text, counted without parsing (brackets inside strings do not count). */
export function jsonDepth(text: string, stopAt = Number.POSITIVE_INFINITY): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92)
        i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > max) {
        max = depth;
        if (max > stopAt) return max;
      }
    } else if (c === 125 || c === 93) depth--;
  }
  return max;
}

export function jsonBody(_request: FastifyRequest, body: string | Buffer, done: (err: Error | null, value?: unknown) => void): void {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  // An empty body (curl -X POST with a JSON content type) is no body: the route's schema decides.
  if (text.trim() === '') {
    done(null, undefined);
    return;
  }
  if (jsonDepth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
    done(new DomainError('invalid', 'TOO_DEEP', `JSON nested deeper than ${MAX_JSON_DEPTH} levels`));
    return;
  }
  try {
    done(null, secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' }));
  } catch (err) {
    done(new DomainError('invalid', 'INVALID_JSON', `the body is not valid JSON: ${(err as Error).message}`));
  }
}
