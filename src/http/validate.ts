import type { z } from 'zod';
import { HttpError } from './errors';

/** Parses `input` with `schema`, or throws a 400 whose message names the offending fields. */
export function parseOr400<T extends z.ZodType>(schema: T, input: unknown): z.output<T> {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  const reasons = result.error.issues.slice(0, 5).map((issue) => {
    const path = issue.path.join('.');
    return path ? `${path}: ${issue.message}` : issue.message;
  });
  throw new HttpError(400, reasons.join('; '));
}
