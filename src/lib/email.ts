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
