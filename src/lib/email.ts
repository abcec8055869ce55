import { z } from 'zod';
/**
 * The one rule for an e-mail address Keyplane keeps or writes to (a client's address, a billing
 * address): one `@`, a dot in the domain, no whitespace, and none of `<>",;`, which would let
 * one field name several recipients or a display name. What a client may be given, billing can
 * always deliver to.
 */
const EMAIL = /^[^\s@<>",;]+@[^\s@<>",;]+\.[^\s@<>",;]+$/;
const MAX_LENGTH = 320;

export function isEmailAddress(text: string): boolean {
  return text.length <= MAX_LENGTH && EMAIL.test(text);
}

/** The rule as a zod schema, trimmed: every face's e-mail field (clients, billing) uses it. */
export const emailAddress = z
  .string()
  .trim()
  .min(3, 'must be an email address')
  .max(MAX_LENGTH, `must be at most ${MAX_LENGTH} characters`)
  // A pattern rather than a refine: the OpenAPI document shows it, and the CLI names the flag.
  .regex(EMAIL, 'must be an email address');
