import { Counter, type Registry } from 'prom-client';
import type { AuditService } from '../audit/index.ts';
import type { Logger } from '../infra/logger.ts';
import type { Clock } from '../lib/clock.ts';
import { parseKey } from '../lib/key-format.ts';
import { Lru } from './keys-fns.ts';
import type { VerifyCode } from './keys-types.ts';

export interface KeyFailuresDeps {
  audit: AuditService;
  clock: Clock;
  logger: Logger;
  registry?: Registry;
}

/** A failed client authentication, as the client auth plugin reports it. */
export interface FailureReport {
  code: VerifyCode | 'MISSING';
  ip?: string;
  endpoint?: string;
  rawKey?: unknown;
  keyId?: string | null;
  clientId?: string | null;
}

interface FailuresContext extends KeyFailuresDeps {
  seen: Lru<string, number>;
  window: { second: number; count: number };
  counter: Counter<'outcome'> | null;
}

/**
 * Failed authentications are audited, sampled: at most one entry per (ip, outcome) a minute
 * and 20 a second overall, so a flood of bad keys cannot flood the log. Never the key itself.
 */
export function createKeyFailures(deps: KeyFailuresDeps) {
  const ctx: FailuresContext = {
    ...deps,
    seen: new Lru<string, number>(10_000),
    window: { second: 0, count: 0 },
    counter: deps.registry
      ? new Counter({
          name: 'keyplane_auth_failures_total',
          help: 'Failed client authentications by outcome code',
          labelNames: ['outcome'] as const,
          registers: [deps.registry],
        })
      : null,
  };
  /** Failure reports still writing: callers do not await them (a 401 never waits), close does. */
  const inFlight = new Set<Promise<void>>();
  return {
    reportFailure(input: FailureReport): Promise<void> {
      const p = writeFailure(ctx, input).finally(() => inFlight.delete(p));
      inFlight.add(p);
      return p;
    },
    async close(): Promise<void> {
      await Promise.allSettled([...inFlight]);
    },
  };
}

/** Whether this failure is one the sampling lets through (and counts it if so). */
function sampled(ctx: FailuresContext, input: FailureReport, nowMs: number): boolean {
  const sampleKey = `${input.ip ?? '-'}|${input.code}`;
  const last = ctx.seen.get(sampleKey);
  if (last !== undefined && nowMs - last < 60_000) return false;
  const second = Math.floor(nowMs / 1000);
  if (ctx.window.second !== second) ctx.window = { second, count: 0 };
  if (++ctx.window.count > 20) return false;
  ctx.seen.set(sampleKey, nowMs);
  return true;
}

async function writeFailure(ctx: FailuresContext, input: FailureReport): Promise<void> {
  ctx.counter?.inc({ outcome: input.code });
  if (!sampled(ctx, input, ctx.clock.now().getTime())) return;
  const parsed = parseKey(input.rawKey);
  try {
    await ctx.audit.record({
      actor: { type: 'anonymous', id: 'anonymous', ip: input.ip ?? null },
      action: 'auth.failed',
      targetType: 'key',
      targetId: input.keyId ?? null,
      clientId: input.clientId ?? null,
      data: {
        outcome: input.code,
        endpoint: input.endpoint ?? null,
        keyStart: parsed?.start ?? null,
        sampled: true,
      },
    });
  } catch (err) {
    ctx.logger.warn({ err }, 'could not audit a failed authentication');
  }
}
