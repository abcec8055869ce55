import { z } from 'zod';
import { emailAddress } from '../lib/email.ts';
import { rateLimitSchema } from '../lib/rate-limit-setting.ts';

/**
 * The clients module's input, one zod schema per input: the HTTP routes take them as their
 * body and query schemas, the CLI builds the same object from its flags and parses it with the
 * same schema, an import parses its rows with them. The service trusts what they produced and
 * checks only the rules (a client's state). Messages read after a field or flag name
 * (`--email: must be an email address`, `invalid body: email: must be an email address`).
 */

export const CLIENT_STATUSES = ['active', 'suspended', 'deleted'] as const;

const NAME_RULE = 'must be 1-200 characters';
const TIER = /^[a-z0-9][a-z0-9_-]{0,31}$/;
const METADATA_MAX_BYTES = 8192;

/** Trimmed, 1-200 characters. */
export const clientName = z.string().trim().min(1, NAME_RULE).max(200, NAME_RULE);

/** Trimmed, and the one e-mail rule billing shares (src/lib/email.ts). */
export const clientEmail = emailAddress;

/** A pricing / rate-limit tier: what prices and limits are keyed by. */
export const clientTier = z
  .string()
  .max(32, 'must be at most 32 characters')
  .regex(TIER, 'must be lowercase letters, digits, - or _');

/** A JSON object of at most 8 KiB. */
export const clientMetadata = z
  .record(z.string(), z.unknown())
  .refine(
    (meta) => Buffer.byteLength(JSON.stringify(meta)) <= METADATA_MAX_BYTES,
    'must be at most 8 KiB of JSON',
  );

/** A new client; `environment` is its first key's. */
export const createClientInput = z
  .object({
    name: clientName,
    email: clientEmail,
    tier: clientTier.optional(),
    metadata: clientMetadata.optional(),
    defaultRateLimit: rateLimitSchema.optional(),
    environment: z
      .enum(['live', 'test'], { error: 'must be live or test' })
      .optional()
      .describe('of the first key; default live'),
  })
  .strict();

/** A client brought over from another system (src/import/), with its original creation time. */
export const importClientInput = createClientInput.omit({ environment: true }).extend({
  createdAt: z
    .string()
    .refine((text) => !Number.isNaN(Date.parse(text)), 'must be a valid time')
    .nullish(),
});

/** The fields to change; a null defaultRateLimit removes it. */
export const updateClientInput = z
  .object({
    name: clientName.optional(),
    email: clientEmail.optional(),
    tier: clientTier.optional(),
    metadata: clientMetadata.optional(),
    defaultRateLimit: rateLimitSchema.nullable().optional(),
  })
  .strict();

/** Why a client is suspended (kept in the audit log and the webhook event). */
export const suspendClientInput = z.object({ reason: z.string().max(500).optional() }).strict();

/** Which clients a list holds (the page itself is the face's: cursor and limit). */
export const listClientsFilter = z.object({
  status: z.enum(CLIENT_STATUSES, { error: 'must be active, suspended or deleted' }).optional(),
  search: z
    .string()
    .max(200, 'must be at most 200 characters')
    .optional()
    .describe('only clients whose name, email, id or tier contains this (ignoring case)'),
});

export type CreateClientRequest = z.output<typeof createClientInput>;
export type CreateClientInput = Omit<CreateClientRequest, 'environment'>;
export type ImportClientInput = z.output<typeof importClientInput>;
export type UpdateClientInput = z.output<typeof updateClientInput>;
export type SuspendClientInput = z.output<typeof suspendClientInput>;
export type ListClientsFilter = z.output<typeof listClientsFilter>;
