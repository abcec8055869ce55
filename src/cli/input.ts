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

/**
 * Like parseFlags, for inputs whose fields are not named like their flags (`flags`: field →
 * flag). The schema's own refusals (custom issues: `refill needs credits`, `--refill must be
 * daily:N or monthly:N`) already say what is wrong and stay as they are; zod's generic ones get
 * the flag they are about: `--credits: Too big: …`.
 */
export function parseInput<S extends z.ZodType>(
  schema: S,
  raw: unknown,
  flags: Partial<Record<string, string>> = {},
): z.output<S> {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const flag = flags[String(issue.path[0] ?? '')];
  throw usageError(issue.code !== 'custom' && flag ? `${flag}: ${issue.message}` : issue.message);
}
