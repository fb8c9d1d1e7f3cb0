// Field types shared by the message bodies ([P-0]).
import * as z from './zod.ts';

export const isoInstant = z.iso.datetime({ offset: false }).check(z.describe('UTC instant, RFC 3339 with Z'));

/** A device, station or unit identifier ([P-7]). */
export const code = z.string().check(z.regex(/^[A-Za-z0-9_-]{1,64}$/));
