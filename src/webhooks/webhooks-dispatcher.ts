import { randomBytes } from 'node:crypto';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Keyring } from '../infra/master-key.ts';
import type { Logger } from '../infra/logger.ts';
import type { Clock } from '../lib/clock.ts';
import { newId } from '../lib/ids.ts';
import { DISABLE_AFTER_MS, nextAttemptDelay, openSecret, webhookHeaders } from './webhooks-fns.ts';
import { sendWebhook } from './webhooks-sender.ts';
import type { ClaimedDelivery, WebhooksStore } from './webhooks-store.ts';
import type { WebhookEndpoint, WebhookEndpointsTable } from './webhooks-types.ts';
import { toEndpoint } from './webhooks-endpoints.ts';

export interface DispatcherDeps {
  webhooksStore: WebhooksStore;
  keyring: Keyring;
  clock: Clock;
  logger: Logger;
  registry: Registry;
  allowPrivate: boolean;
  /** Per attempt, connect to last byte (15 s). */
  timeoutMs?: number;
  /** Deliveries leased per round (and sent concurrently, one per endpoint). */
  batchSize?: number;
  /** Between rounds when the queue is empty. */
  pollMs?: number;
  random?: () => number;
  /** Told when an endpoint is disabled after failing for 5 days (emails its owner). */
  onDisabled?: (endpoint: WebhookEndpoint) => Promise<void>;
}

export const SEND_TIMEOUT_MS = 15_000;

/**
 * After a wake (an emit on this node), the waits between empty rounds before falling back to
 * `pollMs`: the emit's transaction commits a moment after `emit` returns, so the first rounds
 * may not see it yet.
 */
const EAGER_WAITS_MS = [0, 5, 15, 40, 100] as const;

/** What one round of the dispatcher needs: its deps with defaults, its node id and metrics. */
interface DispatchContext {
  store: WebhooksStore;
  keyring: Keyring;
  clock: Clock;
  logger: Logger;
  allowPrivate: boolean;
  timeoutMs: number;
  batchSize: number;
  random: () => number;
  leaseMs: number;
  node: string;
  onDisabled?: (endpoint: WebhookEndpoint) => Promise<void>;
  deliveries: Counter<'outcome'>;
  latency: Histogram;
}

/**
 * Delivers the outbox: leases due deliveries (see store.claim), signs and sends them, records
 * each attempt and schedules the next one. Any number of nodes may run it at once.
 */
export function createWebhookDispatcher(deps: DispatcherDeps) {
  const ctx = dispatchContext(deps);
  const { logger } = ctx;
  const pollMs = deps.pollMs ?? 500;
  let running = false;
  let timer: NodeJS.Timeout | null = null;
  let loop: Promise<void> | null = null;
  let wakeUp: (() => void) | null = null;
  /** Index into EAGER_WAITS_MS; at its end, empty rounds wait `pollMs`. */
  let eager: number = EAGER_WAITS_MS.length;

  async function run(): Promise<void> {
    while (running) {
      let n = 0;
      try {
        n = await runOnce(ctx);
      } catch (err) {
        logger.error({ err }, 'webhook dispatcher round failed');
      }
      if (n > 0 || !running) continue;
      const wait = EAGER_WAITS_MS[eager++] ?? pollMs;
      await new Promise<void>((resolve) => {
        wakeUp = resolve;
        timer = setTimeout(resolve, wait);
      });
      wakeUp = null;
      timer = null;
    }
  }

  return {
    node: ctx.node,
    /** One round: lease what is due, send it all, record. Returns how many were attempted. */
    runOnce: () => runOnce(ctx),
    start(): void {
      if (running) return;
      running = true;
      loop = run();
    },
    /** Whether the loop is waiting between rounds (nothing was due in the last one). */
    idle: (): boolean => wakeUp !== null,
    /** An emit on this node: the next rounds come quickly instead of after `pollMs`. */
    wake(): void {
      eager = 0;
      if (timer) clearTimeout(timer);
      wakeUp?.();
    },
    async stop(): Promise<void> {
      running = false;
      if (timer) clearTimeout(timer);
      wakeUp?.();
      await loop;
    },
  };
}

export type WebhookDispatcher = ReturnType<typeof createWebhookDispatcher>;

function dispatchContext(deps: DispatcherDeps): DispatchContext {
  const { webhooksStore: store, registry } = deps;
  const timeoutMs = deps.timeoutMs ?? SEND_TIMEOUT_MS;
  const deliveries = new Counter({
    name: 'keyplane_webhook_deliveries_total',
    help: 'Webhook delivery attempts by outcome (delivered, retrying, failed)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'keyplane_webhook_delivery_duration_seconds',
    help: 'Duration of one webhook attempt, from connect to the response read',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15],
    registers: [registry],
  });
  new Gauge({
    name: 'keyplane_webhook_queue_depth',
    help: 'Webhook deliveries waiting to be sent or retried',
    registers: [registry],
    async collect() {
      this.set(await store.pendingCount());
    },
  });
  return {
    store,
    keyring: deps.keyring,
    clock: deps.clock,
    logger: deps.logger,
    allowPrivate: deps.allowPrivate,
    timeoutMs,
    batchSize: deps.batchSize ?? 50,
    random: deps.random ?? Math.random,
    // The lease outlives the longest send with room to spare.
    leaseMs: timeoutMs * 2 + 30_000,
    node: `node_${randomBytes(6).toString('hex')}`,
    onDisabled: deps.onDisabled,
    deliveries,
    latency,
  };
}

async function runOnce(ctx: DispatchContext): Promise<number> {
  const now = ctx.clock.now();
  const claimed = await ctx.store.claim({
    now: now.toISOString(),
    leaseUntil: new Date(now.getTime() + ctx.leaseMs).toISOString(),
    node: ctx.node,
    limit: ctx.batchSize,
  });
  await Promise.all(
    claimed.map((d) =>
      deliver(ctx, d).catch((err: unknown) =>
        ctx.logger.error({ err, deliveryId: d.id }, 'webhook delivery error'),
      ),
    ),
  );
  return claimed.length;
}

function secretsOf(ctx: DispatchContext, ep: WebhookEndpointsTable, nowIso: string): string[] {
  const out = [openSecret(ctx.keyring, ep.id, ep.secret_sealed)];
  if (ep.previous_secret_sealed && ep.previous_expires_at && ep.previous_expires_at > nowIso)
    out.push(openSecret(ctx.keyring, ep.id, ep.previous_secret_sealed));
  return out;
}

async function deliver(ctx: DispatchContext, d: ClaimedDelivery): Promise<void> {
  const { store, clock } = ctx;
  const ep = await store.endpointById(d.endpoint_id);
  if (!ep) return;
  const started = clock.now();
  const headers = webhookHeaders(
    secretsOf(ctx, ep, started.toISOString()),
    d.message_id,
    Math.floor(started.getTime() / 1000),
    d.payload,
  );
  const res = await sendWebhook({
    url: ep.url,
    headers,
    body: d.payload,
    timeoutMs: ctx.timeoutMs,
    allowPrivate: ctx.allowPrivate,
  });
  ctx.latency.observe(res.durationMs / 1000);
  const ok = res.statusCode !== null && res.statusCode >= 200 && res.statusCode < 300;
  const attempt = d.attempts + 1;
  const now = clock.now();
  const delay = ok ? null : nextAttemptDelay(attempt, ctx.random);
  const status = ok ? 'delivered' : delay === null ? 'failed' : 'pending';
  const recorded = await store.finishAttempt(
    {
      id: newId('webhookAttempt', now.getTime()),
      delivery_id: d.id,
      message_id: d.message_id,
      endpoint_id: d.endpoint_id,
      attempt,
      started_at: started.toISOString(),
      duration_ms: res.durationMs,
      status_code: res.statusCode,
      outcome: ok ? 'delivered' : 'failed',
      error: res.error ?? (ok ? null : `HTTP ${res.statusCode}`),
      response_excerpt: res.responseExcerpt,
    },
    { id: d.id, node: ctx.node, leaseUntil: d.claimed_until! },
    {
      status,
      next_attempt_at: new Date(now.getTime() + (delay ?? 0)).toISOString(),
      finished_at: status === 'pending' ? null : now.toISOString(),
    },
  );
  if (!recorded) return; // the lease ran out and another node took over
  ctx.deliveries.inc({ outcome: status === 'pending' ? 'retrying' : status });
  await trackHealth(ctx, ep, ok, now);
}

/** A 2xx ends the failing streak; 5 days of failures without one disables the endpoint. */
async function trackHealth(
  ctx: DispatchContext,
  ep: WebhookEndpointsTable,
  ok: boolean,
  now: Date,
): Promise<void> {
  const { store, logger } = ctx;
  const iso = now.toISOString();
  if (ok) {
    if (ep.failing_since) await store.markEndpoint(ep.id, { failing_since: null });
    return;
  }
  if (!ep.failing_since) return store.markEndpoint(ep.id, { failing_since: iso });
  if (now.getTime() - Date.parse(ep.failing_since) < DISABLE_AFTER_MS || !ep.enabled) return;
  const reason = `failing since ${ep.failing_since}`;
  await store.markEndpoint(ep.id, { enabled: 0, disabled_reason: reason, updated_at: iso });
  logger.warn({ endpointId: ep.id }, 'webhook endpoint disabled after 5 days of failures');
  try {
    await ctx.onDisabled?.(toEndpoint({ ...ep, enabled: 0, disabled_reason: reason }));
  } catch (err) {
    logger.error(
      { err, endpointId: ep.id },
      'could not tell the owner of a disabled webhook endpoint',
    );
  }
}
