import type { z } from 'zod';
import type { providerConfigSchema } from '../config.ts';
import type { Clock } from '../lib/clock.ts';
import type { Provider, SecretFields, VerificationStatus } from './credentials-types.ts';
import type { ProviderSpec } from './providers/index.ts';
import { createCircuitBreaker, withRetry, type CircuitBreaker } from './resilience-fns.ts';

/** config.providers.<name>: base URL, policy, timeout, retries, circuit breaker. */
export type ProviderSettings = z.output<typeof providerConfigSchema>;

const DEFAULTS = {
  timeoutMs: 10_000,
  maxRetries: 2,
  retryBackoffMs: 500,
  retryMaxMs: 5_000,
  circuitBreakerThreshold: 5,
  circuitBreakerCooldownMs: 30_000,
};

export interface Verification {
  status: VerificationStatus;
  message: string;
  attempts: number;
  checkedAt: string;
}

function unsupported(spec: ProviderSpec, checkedAt: string): Verification {
  return {
    status: 'unsupported',
    message: `${spec.name} has no verification endpoint; the credential is stored unverified`,
    attempts: 0,
    checkedAt,
  };
}

/**
 * Verification calls to providers: a timeout per attempt, retries with backoff on transient
 * failures only, and one circuit breaker per provider (per node) so that a provider that keeps
 * failing is left alone for a cooldown (seed 05).
 */
export function createVerifier(deps: {
  providers: Record<string, ProviderSettings>;
  clock: Clock;
  fetch: typeof fetch;
}) {
  const { clock } = deps;
  const doFetch = deps.fetch;
  const breakers = new Map<string, CircuitBreaker>();
  const settings = (provider: Provider): ProviderSettings => deps.providers[provider] ?? {};

  function breakerFor(provider: Provider): CircuitBreaker {
    let b = breakers.get(provider);
    if (!b) {
      const s = settings(provider);
      b = createCircuitBreaker({
        failureThreshold: s.circuitBreakerThreshold ?? DEFAULTS.circuitBreakerThreshold,
        cooldownMs: s.circuitBreakerCooldownMs ?? DEFAULTS.circuitBreakerCooldownMs,
        now: () => Date.now(),
      });
      breakers.set(provider, b);
    }
    return b;
  }

  /** Calls the provider with retries on transient failures, behind its circuit breaker. */
  async function callProvider(spec: ProviderSpec, fields: SecretFields): Promise<Verification> {
    const checkedAt = clock.now().toISOString();
    if (!spec.verify) return unsupported(spec, checkedAt);
    const verify = spec.verify;
    const s = settings(spec.name);
    const baseUrl = s.baseUrl ?? spec.defaultBaseUrl!;
    const breaker = breakerFor(spec.name);
    let circuitOpen: string | null = null;
    const result = await withRetry(
      async () => {
        const pass = breaker.tryPass();
        if (!pass.allowed) {
          circuitOpen = `${spec.name} is failing: its circuit is open, next try in ${Math.ceil(pass.retryInMs / 1000)} s`;
          return { ok: false, transient: false, reason: circuitOpen };
        }
        const r = await verify(fields, {
          baseUrl,
          timeoutMs: s.timeoutMs ?? DEFAULTS.timeoutMs,
          now: clock.now(),
          fetch: doFetch,
        });
        if (!r.ok && r.transient) breaker.recordFailure();
        else breaker.recordSuccess();
        return r;
      },
      {
        retries: s.maxRetries ?? DEFAULTS.maxRetries,
        baseMs: s.retryBackoffMs ?? DEFAULTS.retryBackoffMs,
        maxMs: DEFAULTS.retryMaxMs,
      },
    );
    if (result.ok) {
      return {
        status: 'verified',
        message: result.value.message,
        attempts: result.attempts,
        checkedAt,
      };
    }
    const unreachable = result.transient || circuitOpen !== null;
    return {
      status: unreachable ? 'unreachable' : 'rejected',
      message: result.reason,
      attempts: circuitOpen ? result.attempts - 1 : result.attempts,
      checkedAt,
    };
  }

  return {
    verify: callProvider,
    circuitState: (provider: Provider) => breakerFor(provider).state(),
  };
}
