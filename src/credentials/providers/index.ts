import { AppError } from '../../lib/errors.ts';
import { PROVIDERS, type Provider, type SecretFields } from '../credentials-types.ts';
import { anthropic, copilotkit, exa, gemini, generic, openai } from './ai.ts';
import { aws, azure, gcp, vultr } from './cloud.ts';
import type { ProviderSpec } from './provider-types.ts';

export type { ProbeContext, ProbeResult, ProviderSpec } from './provider-types.ts';

export const PROVIDER_SPECS: Record<Provider, ProviderSpec> = {
  vultr,
  aws,
  gcp,
  azure,
  gemini,
  openai,
  anthropic,
  exa,
  copilotkit,
  generic,
};

export function isProvider(name: string): name is Provider {
  return (PROVIDERS as readonly string[]).includes(name);
}

export function providerSpec(name: string): ProviderSpec {
  if (!isProvider(name)) {
    throw new AppError('validation_failed', `provider: must be one of ${PROVIDERS.join(', ')}`, {
      context: { field: 'provider' },
    });
  }
  return PROVIDER_SPECS[name];
}

/** seed 03 sends snake_case (`api_key`, `access_key_id`); the API speaks camelCase. */
function camelKeys(raw: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) {
    out[k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())] = v;
  }
  return out;
}

/**
 * Validates a secret against its provider's schema. A bad payload is a 400 naming the field
 * (`credentials.secretAccessKey: …`); the offending value is never echoed.
 */
export function validateSecret(provider: Provider, raw: unknown): SecretFields {
  const spec = PROVIDER_SPECS[provider];
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new AppError('validation_failed', 'credentials: must be an object of provider fields', {
      context: { field: 'credentials' },
    });
  }
  const input = provider === 'generic' ? raw : camelKeys(raw as Record<string, unknown>);
  const parsed = spec.schema.safeParse(input);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => {
      const path = ['credentials', ...issue.path.map(String)].join('.');
      const message =
        issue.code === 'unrecognized_keys'
          ? `unknown field(s) ${issue.keys.join(', ')} for ${provider}`
          : issue.message;
      return { path, message };
    });
    const first = issues[0]!;
    throw new AppError('validation_failed', `invalid body: ${first.path}: ${first.message}`, {
      context: { field: first.path, issues },
    });
  }
  const fields: SecretFields = {};
  for (const [k, v] of Object.entries(parsed.data)) if (typeof v === 'string') fields[k] = v;
  return fields;
}

/** Development mode: a secret assembled from environment variables, or null when incomplete. */
export function secretFromEnvironment(
  provider: Provider,
  env: Record<string, string | undefined>,
): { fields: SecretFields; variables: string[] } | null {
  const spec = PROVIDER_SPECS[provider];
  const raw: Record<string, string> = {};
  const variables: string[] = [];
  for (const [field, names] of Object.entries(spec.env)) {
    const name = names.find((n) => env[n]);
    if (name) {
      raw[field] = env[name]!;
      variables.push(name);
    }
  }
  if (!variables.length) return null;
  const parsed = spec.schema.safeParse(raw);
  if (!parsed.success) return null;
  const fields: SecretFields = {};
  for (const [k, v] of Object.entries(parsed.data)) if (typeof v === 'string') fields[k] = v;
  return { fields, variables };
}
