// Field types shared by the message bodies ([P-0]).
import { z } from 'zod';

export const isoInstant = z.iso.datetime({ offset: false }).describe('UTC instant, RFC 3339 with Z');
