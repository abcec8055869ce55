import type { z } from 'zod';
import { AppError } from './errors.ts';

/**
 * `value` parsed by a module's input schema, or a validation_failed error naming the field
 * (`email: must be an email address`): for input that arrives neither over HTTP (where the
 * route's schema answers 400) nor from the CLI's flags (cli/input.ts), such as an import's rows.
 */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = issue?.path.map(String).join('.') ?? '';
  const message = issue?.message ?? 'invalid';
  throw new AppError('validation_failed', field ? `${field}: ${message}` : message, {
    context: { field },
  });
}
