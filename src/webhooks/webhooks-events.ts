import { z } from 'zod';
import type { EventType } from './webhooks-types.ts';

/**
 * The payload of every event type: one zod schema each for `data`, used by `emit` (which parses
 * the data through it, so a field that is not in the schema, a secret above all, never reaches
 * a payload) and by the OpenAPI `webhooks` object (src/http/webhook-docs.ts). One source.
 *
 * To add an event type: add it to EVENT_TYPES (webhooks-types.ts) and give it an entry here;
 * the `satisfies` below refuses to compile until both are done.
 */

const keyEnvironment = z.enum(['live', 'test']);

/**
 * A budget's period and mode as events carry them. Stated here, not imported from budgets:
 * budgets emits through webhooks, so webhooks must not depend on budgets (a module cycle).
 * `webhooks-events.test.ts` proves these equal BUDGET_PERIODS and BUDGET_MODES.
 */
export const budgetEventPeriod = z.enum(['day', 'week', 'month', 'billing']);
export const budgetEventMode = z.enum(['hard', 'soft']);

/** A key as events show it: never the key, never its hash. */
const keySummary = z
  .object({
    id: z.string().meta({ example: 'key_01JD3M5TQ0V4W3K2C8R5YB7N6E' }),
    clientId: z.string(),
    start: z.string().describe('The first characters of the key, as lists show them'),
    name: z.string().nullable(),
    environment: keyEnvironment,
    scopes: z.array(z.string()),
    expiresAt: z.string().nullable(),
    status: z.enum(['active', 'revoked']),
  })
  .describe('The key (metadata only: never the key or its hash)');

const clientSummary = z.object({
  id: z.string(),
  name: z.string(),
  status: z.enum(['active', 'suspended']),
});

const invoiceSummary = z.object({
  id: z.string(),
  number: z.string(),
  clientId: z.string(),
  period: z.string(),
  currency: z.string(),
  totalMicros: z.number().int().describe('The total in micro-units of the currency'),
});

export interface EventDoc {
  /** When it fires, for the OpenAPI document and `keyplane webhooks event-types`. */
  summary: string;
  data: z.ZodType<Record<string, unknown>>;
}

export const EVENT_SCHEMAS = {
  'key.created': {
    summary: 'A key was issued (by the operator, by a client for itself, or with a new client).',
    data: z.object({ key: keySummary }),
  },
  'key.revoked': {
    summary:
      'A key was revoked (by its owner, by the operator, or for good after a leak report). Rolled keys send key.rolled instead.',
    data: z.object({
      key: keySummary,
      reason: z.string().nullable(),
      retired: z.boolean().describe('Revoked for good: it can never be reactivated'),
    }),
  },
  'key.rolled': {
    summary:
      'A key was rolled: a new key with the same settings and credits replaces it; the old one works until oldKeyExpiresAt.',
    data: z.object({
      key: keySummary.describe('The rolled (old) key'),
      newKey: keySummary.describe('Its replacement'),
      gracePeriodSeconds: z.number().int(),
      oldKeyExpiresAt: z.string().nullable(),
    }),
  },
  'key.expiring': {
    summary:
      'A key expires soon: sent once 7 days before its expiry and once 1 day before (only the 1-day notice when a key is created with less than a day left). Rolled keys are not warned about.',
    data: z.object({
      key: keySummary,
      expiresAt: z.string(),
      daysBefore: z.union([z.literal(7), z.literal(1)]),
    }),
  },
  'key.exposed': {
    summary:
      'A leak report (GitHub or GitLab secret scanning, the operator, or keyplane scan) named a live key; action says what was done.',
    data: z.object({
      key: z.object({ id: z.string(), start: z.string(), environment: keyEnvironment }),
      source: z.enum(['github', 'gitlab', 'operator', 'scan']),
      url: z.string().nullable(),
      tokenType: z.string().nullable(),
      action: z.enum(['revoked', 'rolled', 'notified', 'already_revoked', 'duplicate']),
      newKeyId: z.string().nullable(),
    }),
  },
  'client.suspended': {
    summary: 'A client was suspended: every one of its keys is refused until it is reactivated.',
    data: z.object({ client: clientSummary, reason: z.string().nullable() }),
  },
  'client.reactivated': {
    summary: 'A suspended client was reactivated.',
    data: z.object({ client: clientSummary }),
  },
  'credits.low': {
    summary:
      "A key's credits fell to 20 % of the last grant (threshold 20), or ran out (threshold 0): once per threshold per grant (creation or refill).",
    data: z.object({
      key: z.object({
        id: z.string(),
        clientId: z.string(),
        environment: keyEnvironment,
      }),
      poolId: z.string().describe('The credit pool (shared by the keys a roll connects)'),
      threshold: z.union([z.literal(20), z.literal(0)]).describe('Percent of the last grant'),
      remaining: z.number().int(),
      granted: z.number().int().describe('The last grant (100 %)'),
      refill: z
        .object({ interval: z.enum(['daily', 'monthly']), amount: z.number().int() })
        .nullable(),
    }),
  },
  'ratelimit.exceeded': {
    summary:
      'A key was refused for its rate limit: at most once per key per window (windows aligned to the epoch), across every node.',
    data: z.object({
      key: z.object({ id: z.string(), clientId: z.string(), environment: keyEnvironment }),
      limit: z.number().int(),
      windowSeconds: z.number().int(),
      resetAt: z.string().describe('When the window frees up a call'),
      endpoint: z.string().nullable(),
    }),
  },
  'invoice.issued': {
    summary: 'An invoice was issued for a billing period.',
    data: z.object({ invoice: invoiceSummary }),
  },
  'invoice.sent': {
    summary: 'An invoice was emailed.',
    data: z.object({ invoice: invoiceSummary, to: z.string().nullable() }),
  },
  'invoice.paid': {
    summary: 'An invoice was marked paid.',
    data: z.object({ invoice: invoiceSummary, paidAt: z.string() }),
  },
  'invoice.delivery_failed': {
    summary: 'Emailing an invoice failed; nextSendAt says when it is tried again (null: never).',
    data: z.object({
      invoice: invoiceSummary,
      error: z.string().nullable(),
      nextSendAt: z.string().nullable(),
    }),
  },
  'credential.verification_failed': {
    summary:
      "Verifying a vault credential with its provider failed: the provider rejected it, or could not be reached. Never the credential's secret.",
    data: z.object({
      credential: z.object({
        id: z.string(),
        clientId: z.string().nullable().describe('null: a platform credential'),
        name: z.string(),
        provider: z.string(),
      }),
      status: z.enum(['rejected', 'unreachable']),
      message: z.string(),
      attempts: z.number().int(),
      checkedAt: z.string(),
    }),
  },
  'budget.threshold': {
    summary:
      "A client's (or one key's) spend reached one of its budget's thresholds (50/80/100 % by default): once per budget, period and threshold.",
    data: z.object({
      budget: z.object({
        id: z.string(),
        keyId: z.string().nullable().describe('null: the budget covers every key of the client'),
        period: budgetEventPeriod,
        mode: budgetEventMode,
        amountMicros: z.number().int(),
        currency: z.string(),
      }),
      threshold: z.number().int().describe('Percent of the amount'),
      periodStart: z.string(),
      periodEnd: z.string(),
      spentMicros: z.number().int(),
    }),
  },
} satisfies Record<EventType, EventDoc>;

/** The envelope every payload shares; `data` is the event type's own schema. */
export function envelopeSchema(type: EventType) {
  return z.object({
    type: z.literal(type),
    version: z.literal(1).describe('Bumped when a field changes meaning or goes away'),
    timestamp: z.string().describe('When the event happened (ISO 8601)'),
    data: EVENT_SCHEMAS[type].data,
  });
}

/** The event's data as sent: only the schema's fields (anything else is dropped). */
export function eventData(type: EventType, data: Record<string, unknown>): Record<string, unknown> {
  return EVENT_SCHEMAS[type].data.parse(data);
}
