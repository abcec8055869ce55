import type { UsageReporter } from './reporter.ts';
import { KeyVerifier, type KeyplaneContext, type VerifierOptions } from './verifier.ts';

/** Options shared by the Fastify, Express and Hono middleware. */
export interface MiddlewareOptions extends VerifierOptions {
  /**
   * The verifier to use; share one between routes so they share its cache. Without it, one is
   * built from the other options (baseUrl, adminToken, cacheTtlMs, …).
   */
  verifier?: KeyVerifier;
  /** Every one of these scopes must be held by the key (else 403 insufficient_scope). */
  scopes?: string[];
  /**
   * Meter each authenticated call into Keyplane (`METHOD /route-template`, status, duration),
   * priced by Keyplane's price book. Pass a shared UsageReporter.
   */
  report?: UsageReporter;
  /** Name the metered endpoint yourself (default `METHOD /route-template`). */
  endpoint?: string;
}

export function verifierOf(options: MiddlewareOptions): KeyVerifier {
  return options.verifier ?? new KeyVerifier(options);
}

/** The error envelope every Keyplane answer uses: `{error: {code, message, requestId}}`. */
export function errorBody(code: string, message: string, requestId: string) {
  return { error: { code, message, requestId } };
}

/** Queues one usage event for a finished authenticated call. */
export function meter(
  reporter: UsageReporter | undefined,
  context: KeyplaneContext,
  call: { endpoint: string; method: string; status: number; startedAt: number },
): void {
  if (!reporter) return;
  reporter.record({
    clientId: context.client.id,
    keyId: context.key.id,
    endpoint: call.endpoint,
    method: call.method,
    status: call.status,
    durationMs: Math.max(0, performance.now() - call.startedAt),
    // Settles the price verification reserved for this call on the client's budgets.
    ...(context.reservationId ? { reservationId: context.reservationId } : {}),
  });
}
