import { z } from 'zod';
import { AppError } from '../lib/errors.ts';
import type { ReportedToken } from './leaks-types.ts';

/**
 * The partners' request bodies. Bounded field sizes: a token longer than any key is still
 * answered (a false positive), but no field may carry megabytes.
 */
const text = (max: number) => z.string().max(max);

/** GitHub secret scanning: `[{token, type, url, source}]`. */
const githubItem = z.object({
  token: text(1000),
  type: text(200).optional(),
  url: text(2000).nullable().optional(),
  source: text(200).nullable().optional(),
});

/**
 * GitLab's token revocation API, POST /v1/revoke_tokens: `[{type, token, location}]`
 * (docs.gitlab.com/development/sec/token_revocation_api).
 */
const gitlabItem = z.object({
  type: text(200),
  token: text(1000),
  location: text(2000).nullable().optional(),
});

function fail(message: string): never {
  throw new AppError('validation_failed', message);
}

/** Parses the raw GitHub body (already verified); 400 for anything but the documented shape. */
export function parseGithubReport(raw: Buffer, maxTokens: number): ReportedToken[] {
  let doc: unknown;
  try {
    doc = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new AppError('invalid_json', 'request body is not valid JSON');
  }
  if (!Array.isArray(doc)) fail('the body must be a JSON array of {token, type, url, source}');
  if (doc.length > maxTokens) {
    throw new AppError('payload_too_large', `at most ${maxTokens} tokens per report`);
  }
  const parsed = z.array(githubItem).safeParse(doc);
  if (!parsed.success) fail(`invalid report: ${parsed.error.issues[0]?.message ?? 'bad shape'}`);
  return parsed.data.map((t) => ({ token: t.token, type: t.type ?? null, url: t.url ?? null }));
}

export function parseGitlabReport(
  body: unknown,
  types: readonly string[],
  maxTokens: number,
): ReportedToken[] {
  if (!Array.isArray(body)) fail('the body must be a JSON array of {type, token, location}');
  if (body.length > maxTokens) {
    throw new AppError('payload_too_large', `at most ${maxTokens} tokens per report`);
  }
  const parsed = z.array(gitlabItem).safeParse(body);
  if (!parsed.success) fail(`invalid report: ${parsed.error.issues[0]?.message ?? 'bad shape'}`);
  const unknown = parsed.data.find((t) => !types.includes(t.type));
  if (unknown) fail(`token type "${unknown.type.slice(0, 100)}" is not supported`);
  return parsed.data.map((t) => ({ token: t.token, type: t.type, url: t.location ?? null }));
}
