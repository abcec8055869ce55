import type { z } from 'zod';
import { usageError } from './context.ts';

/**
 * A command's flags checked by the same zod schema as the HTTP body (issue 19: one schema per
 * input). A problem is a usage error (exit 1) naming the first field that failed: in the
 * command's own words when `messages` has that field, else `--field: <the schema's message>`.
 */
export function parseFlags<S extends z.ZodType>(
  schema: S,
  raw: Record<string, unknown>,
  messages: Partial<Record<string, string>> = {},
): z.output<S> {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const field = String(issue.path[0] ?? '');
  throw usageError(messages[field] ?? `error: --${field}: ${issue.message}`);
}
