// Route schema pieces every API route shares.
import { z } from 'zod';

/** OpenAPI security requirement of the routes behind a bearer token. */
export const bearer = [{ bearer: [] }];

/** limit/offset query parameters, with the route's own ceiling and default page size. */
export const page = (max: number, size: number) => ({
  limit: z.coerce.number().int().min(1).max(max).default(size),
  offset: z.coerce.number().int().min(0).default(0),
});
