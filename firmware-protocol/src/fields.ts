// Field types shared by the message bodies ([P-0]).
import { z } from 'zod';

export const isoInstant = z.iso.datetime({ offset: false }).describe('UTC instant, RFC 3339 with Z');

/** A device, station or unit identifier ([P-7]). */
export const code = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);
