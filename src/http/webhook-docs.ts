import { z } from 'zod';
import {
  envelopeSchema,
  EVENT_SCHEMAS,
  EVENT_TYPES,
  type EventType,
  RETRY_SCHEDULE_MS,
} from '../webhooks/index.ts';

type Json = Record<string, unknown>;

/** `invoice.delivery_failed` → `invoiceDeliveryFailedEvent` (the OpenAPI operationId). */
export function eventOperationId(type: string): string {
  const words = type.split(/[._]/);
  return (
    words[0] +
    words
      .slice(1)
      .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
      .join('') +
    'Event'
  );
}

const schedule = RETRY_SCHEDULE_MS.slice(1)
  .map((ms) =>
    ms < 60_000 ? `${ms / 1000} s` : ms < 3600_000 ? `${ms / 60_000} min` : `${ms / 3600_000} h`,
  )
  .join(', ');

const SIGNING = [
  'Signed with the Standard Webhooks scheme: `webhook-signature` holds `v1,<base64 HMAC-SHA256>`',
  "of `{webhook-id}.{webhook-timestamp}.{raw body}`, keyed with the base64 part of the endpoint's",
  '`whsec_` secret (two signatures while a rolled secret is in its grace period). Refuse a',
  'timestamp more than 5 minutes away, and deduplicate on `webhook-id` (a retry or replay keeps',
  `it). Any 2xx within 15 s is a delivery; anything else is retried after: ${schedule}, with up`,
  'to 20 % jitter, then given up. An endpoint failing for 5 days is disabled.',
].join(' ');

const HEADERS: Json[] = [
  {
    name: 'webhook-id',
    in: 'header',
    required: true,
    description: 'The message id: the same on every retry and replay of the message',
    schema: { type: 'string', examples: ['whmsg_019d480e7400f7dbede7720d'] },
  },
  {
    name: 'webhook-timestamp',
    in: 'header',
    required: true,
    description: 'When this attempt was signed, in whole seconds since the epoch',
    schema: { type: 'string', pattern: '^[0-9]+$', examples: ['1775030400'] },
  },
  {
    name: 'webhook-signature',
    in: 'header',
    required: true,
    description: 'One or more space-separated `v1,<base64 HMAC-SHA256>` signatures',
    schema: { type: 'string', examples: ['v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4='] },
  },
];

/** One event's payload as JSON Schema, from the zod schema `emit` parses it with. */
export function eventPayloadSchema(type: EventType): Json {
  const schema = z.toJSONSchema(envelopeSchema(type), { target: 'draft-2020-12' }) as Json;
  delete schema.$schema;
  return schema;
}

/**
 * The OpenAPI 3.1 `webhooks` object: one entry per event type, the POST Keyplane sends to a
 * subscribed endpoint (payload schema and signing headers) and what its answer means.
 */
export function webhookDocs(): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const type of EVENT_TYPES) {
    out[type] = {
      post: {
        operationId: eventOperationId(type),
        tags: ['webhooks'],
        summary: type,
        description: `${EVENT_SCHEMAS[type].summary}\n\n${SIGNING}`,
        parameters: HEADERS,
        requestBody: {
          required: true,
          content: { 'application/json': { schema: eventPayloadSchema(type) } },
        },
        responses: {
          '200': { description: 'Received (any 2xx status counts as delivered)' },
          default: { description: 'Not received: the message is retried on the schedule' },
        },
        security: [],
      },
    };
  }
  return out;
}
