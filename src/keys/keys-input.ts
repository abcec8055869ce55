import { z } from 'zod';
import { parseDuration } from '../lib/duration.ts';
import { AppError } from '../lib/errors.ts';
import { LIMITS } from '../lib/limits.ts';
import { rateLimitSchema } from '../lib/rate-limit-setting.ts';
import { parseCidr, validateScopes } from './keys-fns.ts';

/**
 * The keys module's inputs, one zod schema each, shared by every face: the HTTP routes take
 * them as request bodies, the CLI parses its flags into them (through the text forms below).
 * A value they accept is well-formed; the service checks only what needs state or the clock
 * (the client exists and is active, the expiry is after now, a client's own key hands on no
 * more than it holds).
 */

const MAX_META_BYTES = 4096;

/** Runs a check that throws an AppError (the keys' own parsers) as a zod refinement. */
function refuseWith<T>(check: (value: T) => unknown) {
  return (value: T, ctx: z.RefinementCtx) => {
    try {
      check(value);
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      ctx.addIssue({ code: 'custom', message: err.message });
    }
  };
}

export const createKeyInput = z
  .object({
    name: z.string().max(200).optional(),
    description: z.string().max(2000).optional(),
    environment: z.enum(['live', 'test']).optional().describe('default live'),
    scopes: z.array(z.string().max(64)).max(100).superRefine(refuseWith(validateScopes)).optional(),
    ipAllowlist: z
      .array(z.string().max(64).superRefine(refuseWith(parseCidr)))
      .max(100)
      .optional()
      .describe('IPv4/IPv6 CIDRs or addresses'),
    expiresAt: z
      .string()
      .max(40)
      .optional()
      .describe('ISO-8601')
      .refine((t) => t === undefined || !Number.isNaN(Date.parse(t)), {
        message: 'expiresAt must be an ISO-8601 time',
      }),
    expiresInSeconds: z
      .number()
      .int()
      .min(1)
      .max(LIMITS.maxSeconds)
      .optional()
      .describe('expiry from now (at most 100 years)'),
    rateLimit: rateLimitSchema.optional(),
    credits: z
      .number()
      .int()
      .min(0)
      .max(LIMITS.maxCredits)
      .optional()
      .describe('calls this key may make'),
    refill: z
      .object({
        interval: z.enum(['daily', 'monthly']),
        amount: z.number().int().min(1).max(LIMITS.maxCredits),
      })
      .optional(),
    meta: z
      .record(z.string(), z.unknown())
      .optional()
      .refine((m) => m === undefined || Buffer.byteLength(JSON.stringify(m)) <= MAX_META_BYTES, {
        message: `meta must be at most ${MAX_META_BYTES} bytes of JSON`,
      }),
  })
  .strict()
  .superRefine((input, ctx) => {
    if (input.expiresAt !== undefined && input.expiresInSeconds !== undefined) {
      ctx.addIssue({ code: 'custom', message: 'give expiresAt or expiresInSeconds, not both' });
    }
    if (input.refill && input.credits === undefined) {
      ctx.addIssue({ code: 'custom', path: ['refill'], message: 'refill needs credits' });
    }
  });

/** What a new key is given: createKeyInput's value (a roll's successor copies the old key's). */
export type CreateKeyInput = z.output<typeof createKeyInput>;

export const rollKeyInput = z
  .object({
    gracePeriodSeconds: z
      .number()
      .int()
      .min(0)
      .max(LIMITS.maxWindowSeconds)
      .optional()
      .describe('default 86400'),
  })
  .strict();

export const revokeKeyInput = z.object({ reason: z.string().max(500).optional() }).strict();

/** A key to check for a service that checks keys itself (POST /admin/v1/verify). */
export const verifyKeyInput = z.object({
  key: z.string().max(4096),
  scopes: z.array(z.string().max(64)).max(100).optional(),
  ip: z.string().max(64).optional(),
  endpoint: z.string().max(300).optional(),
});

/**
 * The text forms an operator types (`90d`, `100/60s`, `monthly:1000`, `a,b`): each parses one
 * field of the inputs above. `name` is how the operator knows the field (a CLI flag), so that
 * a refusal names it: `--refill must be daily:N or monthly:N`.
 */
export const keyText = {
  /** `live` or `test`. */
  environment: (name: string) =>
    z.string().transform((text, ctx) => {
      if (text === 'live' || text === 'test') return text;
      ctx.addIssue({ code: 'custom', message: `${name} must be live or test` });
      return z.NEVER;
    }),

  /** A whole number ≥ 0 (credits). */
  count: (name: string) =>
    z.string().transform((text, ctx) => {
      const n = Number(text);
      if (Number.isInteger(n) && n >= 0) return n;
      ctx.addIssue({ code: 'custom', message: `${name} must be a whole number ≥ 0` });
      return z.NEVER;
    }),

  /** `90d`, `12h`, `2s`, `500ms` → whole seconds. */
  seconds: (name: string) =>
    z.string().transform((text, ctx) => {
      try {
        return Math.round(parseDuration(text) / 1000);
      } catch (err) {
        if (!(err instanceof AppError)) throw err;
        ctx.addIssue({ code: 'custom', message: `${name}: ${err.message}` });
        return z.NEVER;
      }
    }),

  /** `100/60s`, `1000/1h`, `10/s` → {limit, windowSeconds}. */
  rateLimit: (name: string) =>
    z.string().transform((text, ctx) => {
      const m = /^(\d+)\/(\d*)(ms|s|m|h|d)?$/.exec(text.trim());
      if (!m) {
        ctx.addIssue({ code: 'custom', message: `${name} must look like 100/60s (got "${text}")` });
        return z.NEVER;
      }
      const windowSeconds = Math.round(parseDuration(`${m[2] || '1'}${m[3] ?? 's'}`) / 1000);
      if (Number(m[1]) < 1 || windowSeconds < 1) {
        ctx.addIssue({ code: 'custom', message: `${name} needs a limit ≥ 1 and a window ≥ 1s` });
        return z.NEVER;
      }
      return { limit: Number(m[1]), windowSeconds };
    }),

  /** `daily:N` or `monthly:N` → a credit refill. */
  refill: (name: string) =>
    z.string().transform((text, ctx) => {
      const m = /^(daily|monthly):(\d+)$/.exec(text);
      if (!m) {
        ctx.addIssue({ code: 'custom', message: `${name} must be daily:N or monthly:N` });
        return z.NEVER;
      }
      return { interval: m[1] as 'daily' | 'monthly', amount: Number(m[2]) };
    }),

  /** `a, b,c` → ['a', 'b', 'c'] (blanks dropped). */
  list: z.string().transform((text) =>
    text
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean),
  ),
};
