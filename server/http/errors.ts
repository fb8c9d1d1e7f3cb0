import { z } from 'zod';

// Errors that cross the API carry a stable code; the message is for people.
export class AppError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export const badRequest = (code: string, message: string, details?: unknown) => new AppError(400, code, message, details);
export const notFound = (code: string, message: string) => new AppError(404, code, message);
export const forbidden = (code: string, message: string) => new AppError(403, code, message);
export const unprocessable = (code: string, message: string, details?: unknown) => new AppError(422, code, message, details);
export const conflict = (code: string, message: string) => new AppError(409, code, message);

/** The shape of every error response. */
export const ErrorBody = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional(), requestId: z.string().optional() }),
});
