import { AppError } from '../lib/errors.ts';
import type { LeaksContext } from './leaks-context.ts';
import { canonicalSignature, secretEquals, sha256Hex, verifyGithubSignature } from './leaks-fns.ts';
import { report } from './leaks-report.ts';
import { parseGithubReport, parseGitlabReport } from './leaks-wire.ts';

/** The secret scanning partners' endpoints: each authenticates its partner, then reports. */
export function createLeakPartners(ctx: LeaksContext) {
  const { settings } = ctx;
  return {
    /**
     * POST /v1/leaks/github: verify, then report; answers GitHub's feedback shape,
     * `[{token_hash, token_type, label}]`.
     */
    async reportGithub(
      raw: Buffer,
      headers: { identifier?: string; signature?: string },
      ip: string | null,
    ) {
      await verifyGithub(ctx, raw, headers.identifier, headers.signature);
      const tokens = parseGithubReport(raw, settings.maxTokens);
      const outcomes = await report(ctx, tokens, {
        source: 'github',
        actor: { type: 'system', id: 'leaks:github', ip },
      });
      return outcomes.map((o) => ({
        token_hash: o.tokenHash,
        token_type: o.tokenType ?? '',
        label: o.label,
      }));
    },

    /** The GitLab token revocation API's shared secret (Authorization, with or without Bearer). */
    async reportGitlab(authorization: string | undefined, body: unknown, ip: string | null) {
      checkGitlab(ctx, authorization);
      const tokens = parseGitlabReport(body, settings.gitlab.tokenTypes, settings.maxTokens);
      const actor = { type: 'system' as const, id: 'leaks:gitlab', ip };
      await report(ctx, tokens, { source: 'gitlab', actor });
    },

    gitlabTokenTypes(authorization: string | undefined): string[] {
      checkGitlab(ctx, authorization);
      return settings.gitlab.tokenTypes;
    },
  };
}

function checkGitlab(ctx: LeaksContext, authorization: string | undefined): void {
  const secret = ctx.settings.gitlab.token;
  if (!secret) throw new AppError('not_configured', 'leaks.gitlab.token is not set');
  const given = (authorization ?? '').replace(/^Bearer\s+/i, '');
  if (!given || !secretEquals(given, secret)) {
    throw new AppError('unauthorized', 'invalid token revocation token');
  }
}

/** GitHub's headers on the raw body: a known key, a valid signature, never seen before. */
async function verifyGithub(
  ctx: LeaksContext,
  raw: Buffer,
  identifier: string | undefined,
  signature: string | undefined,
): Promise<void> {
  if (!identifier || !signature || identifier.length > 200) {
    throw new AppError(
      'unauthorized',
      'Github-Public-Key-Identifier and Github-Public-Key-Signature are required',
    );
  }
  const key = await ctx.githubKeys.get(identifier);
  if (!key || !verifyGithubSignature(raw, signature, key)) {
    throw new AppError('unauthorized', 'the signature does not verify');
  }
  const canonical = canonicalSignature(Buffer.from(signature, 'base64'));
  if (!canonical) throw new AppError('unauthorized', 'the signature is not DER');
  const now = ctx.clock.nowMs();
  const windowMs = ctx.settings.replayWindowSeconds * 1000;
  const since = new Date(now - windowMs).toISOString();
  if (
    !(await ctx.leaksStore.claimSignature(sha256Hex(canonical), new Date(now).toISOString(), since))
  )
    throw new AppError('conflict', 'this signature was already accepted (replay)');
  // Old signatures are forgotten now and then, not on every report.
  if (Math.random() < 0.01) await ctx.leaksStore.pruneSignatures(since);
}
