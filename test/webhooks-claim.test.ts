import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebhookDispatcher } from '../src/webhooks/webhooks-dispatcher.ts';
import { createWebhooksService } from '../src/webhooks/webhooks-service.ts';
import { createWebhooksStore, type WebhooksStore } from '../src/webhooks/webhooks-store.ts';
import { createHarness } from './support/harness.ts';
import { createTestStore, ENGINES } from './support/stores.ts';
import { waitFor } from './support/wait.ts';
import { startReceiver } from './support/webhook-receiver.ts';

/**
 * The dispatcher's lease query on both engines: only each enabled endpoint's oldest pending
 * delivery is taken, and only when it is due and not leased; a backlog behind it waits.
 */
describe.each(ENGINES)('webhook delivery claims on %s', (engine) => {
  let store: Awaited<ReturnType<typeof createTestStore>>;
  let hooks: WebhooksStore;
  const T0 = '2026-03-02T10:00:00.000Z';
  const LATER = '2026-03-02T11:00:00.000Z';
  const NOW = '2026-03-02T10:30:00.000Z';
  beforeAll(async () => {
    store = await createTestStore(engine);
    hooks = createWebhooksStore(store.store.db, engine);
  });
  afterAll(async () => store?.close());

  async function endpoint(id: string, enabled = true) {
    await hooks.insertEndpoint({
      id,
      client_id: null,
      url: 'http://127.0.0.1:9/',
      description: '',
      event_types: '[]',
      enabled: enabled ? 1 : 0,
      secret_sealed: 'sealed',
      previous_secret_sealed: null,
      previous_expires_at: null,
      failing_since: null,
      disabled_reason: null,
      created_at: T0,
      updated_at: T0,
    });
  }
  let n = 0;
  async function delivery(endpointId: string, nextAttemptAt = T0) {
    const id = `whd_${engine}_${++n}`;
    await store.store.db.transaction().execute(async (trx) => {
      await hooks.insertMessage(
        trx,
        {
          id: `msg_${id}`,
          event_type: 'key.exposed',
          client_id: null,
          payload: '{}',
          created_at: T0,
        },
        [],
      );
      await hooks.insertDeliveries(
        [
          {
            id,
            message_id: `msg_${id}`,
            endpoint_id: endpointId,
            status: 'pending',
            attempts: 0,
            next_attempt_at: nextAttemptAt,
            claimed_until: null,
            claimed_by: null,
            created_at: T0,
            finished_at: null,
          },
        ],
        trx,
      );
    });
    return id;
  }
  const claim = (node: string) =>
    hooks.claim({ now: NOW, leaseUntil: LATER, node, limit: 50 }).then((r) => r.map((d) => d.id));
  const finish = (id: string, node: string) =>
    hooks.finishAttempt(
      {
        id: `att_${id}`,
        delivery_id: id,
        message_id: `msg_${id}`,
        endpoint_id: `a_${engine}`,
        attempt: 1,
        started_at: NOW,
        duration_ms: 1,
        status_code: 200,
        outcome: 'delivered',
        error: null,
        response_excerpt: null,
      },
      { id, node, leaseUntil: LATER },
      { status: 'delivered', next_attempt_at: NOW, finished_at: NOW },
    );

  it('takes each endpoint’s head only, in order, never one leased or not yet due', async () => {
    await endpoint(`a_${engine}`);
    await endpoint(`b_${engine}`, false);
    await endpoint(`c_${engine}`);
    const a1 = await delivery(`a_${engine}`);
    const a2 = await delivery(`a_${engine}`);
    await delivery(`b_${engine}`);
    await delivery(`c_${engine}`, LATER); // c's head is not due: c's next waits behind it
    await delivery(`c_${engine}`);

    expect(await claim('n1')).toEqual([a1]);
    // a's head is leased by n1: another node gets nothing, not a's next one.
    expect(await claim('n2')).toEqual([]);
    expect(await finish(a1, 'n2')).toBe(false);
    expect(await finish(a1, 'n1')).toBe(true);
    expect(await claim('n2')).toEqual([a2]);
    expect(await finish(a2, 'n2')).toBe(true);
    expect(await claim('n1')).toEqual([]);
  });
});

describe.each(ENGINES)('an emit wakes the dispatcher on %s', (engine) => {
  it('a new message goes out at once, not after the idle poll', async () => {
    const h = await createHarness(engine, { env: { KEYPLANE_MODE: 'development' } });
    const rx = await startReceiver();
    const webhooksStore = createWebhooksStore(h.services.store.db, engine);
    // Idle rounds an hour apart: only the wake can explain a delivery within the test.
    const dispatcher = createWebhookDispatcher({
      webhooksStore,
      keyring: h.services.keyring,
      clock: h.services.clock,
      logger: h.services.logger,
      registry: new Registry(),
      allowPrivate: true,
      pollMs: 3_600_000,
    });
    const deps = {
      webhooksStore,
      keyring: h.services.keyring,
      clock: h.services.clock,
      audit: h.services.audit,
      allowPrivate: true,
    };
    const hooks = createWebhooksService({ ...deps, onEmit: () => dispatcher.wake() });
    try {
      await hooks.createEndpoint(null, { url: rx.url }, { type: 'system', id: 'test' });
      dispatcher.start();
      // The first round found nothing: the loop now waits an hour.
      await waitFor(() => dispatcher.idle(), 'the dispatcher idle');
      await h.services.store.db.transaction().execute((trx) =>
        hooks.emit(trx, {
          type: 'ratelimit.exceeded',
          clientId: null,
          data: {
            key: { id: 'key_1', clientId: 'client_1', environment: 'live' },
            limit: 1,
            windowSeconds: 60,
            resetAt: '2026-03-02T10:01:00.000Z',
            endpoint: null,
          },
        }),
      );
      await rx.waitFor(() => rx.delivered().length === 1, 15_000);
      expect(JSON.parse(rx.delivered()[0]!.body).type).toBe('ratelimit.exceeded');
    } finally {
      await dispatcher.stop();
      await rx.close();
      await h.close();
    }
  });
});
