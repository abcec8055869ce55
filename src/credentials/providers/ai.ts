import { z } from 'zod';
import { probe } from './provider-http.ts';
import type { ProviderSpec } from './provider-types.ts';

/** AI and search providers of seed 04 (and seed 01's server-held AI key). */

const apiKeyOnly = z
  .object({
    apiKey: z
      .string({ message: 'apiKey is required (a string)' })
      .trim()
      .min(1, 'apiKey must not be empty')
      .max(4096, 'apiKey is too long'),
  })
  .strict();

export const gemini: ProviderSpec = {
  name: 'gemini',
  defaultType: 'api_key',
  schema: apiKeyOnly,
  defaultBaseUrl: 'https://generativelanguage.googleapis.com',
  env: { apiKey: ['GEMINI_API_KEY', 'GOOGLE_API_KEY'] },
  verify: (f, ctx) =>
    probe(ctx, 'gemini', {
      method: 'GET',
      path: '/v1beta/models?pageSize=1',
      headers: { 'x-goog-api-key': f.apiKey! },
    }),
};

export const openai: ProviderSpec = {
  name: 'openai',
  defaultType: 'api_key',
  schema: apiKeyOnly,
  defaultBaseUrl: 'https://api.openai.com',
  env: { apiKey: ['OPENAI_API_KEY'] },
  verify: (f, ctx) =>
    probe(ctx, 'openai', {
      method: 'GET',
      path: '/v1/models',
      headers: { authorization: `Bearer ${f.apiKey}` },
    }),
};

export const anthropic: ProviderSpec = {
  name: 'anthropic',
  defaultType: 'api_key',
  schema: apiKeyOnly,
  defaultBaseUrl: 'https://api.anthropic.com',
  env: { apiKey: ['ANTHROPIC_API_KEY'] },
  verify: (f, ctx) =>
    probe(ctx, 'anthropic', {
      method: 'GET',
      path: '/v1/models?limit=1',
      headers: { 'x-api-key': f.apiKey!, 'anthropic-version': '2023-06-01' },
    }),
};

export const exa: ProviderSpec = {
  name: 'exa',
  defaultType: 'api_key',
  schema: apiKeyOnly,
  defaultBaseUrl: 'https://api.exa.ai',
  env: { apiKey: ['EXA_API_KEY'] },
  // Exa has no model list; listing websets (one item) is its free, authenticated read.
  verify: (f, ctx) =>
    probe(ctx, 'exa', {
      method: 'GET',
      path: '/websets/v0/websets?limit=1',
      headers: { 'x-api-key': f.apiKey! },
    }),
};

export const copilotkit: ProviderSpec = {
  name: 'copilotkit',
  defaultType: 'api_key',
  schema: apiKeyOnly,
  defaultBaseUrl: null,
  env: { apiKey: ['COPILOTKIT_API_KEY'] },
  // CopilotKit Cloud publishes no key-check endpoint: verification answers "unsupported".
  verify: null,
};

export const generic: ProviderSpec = {
  name: 'generic',
  defaultType: 'api_key',
  schema: z
    .record(
      z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/, 'field names must be identifiers'),
      z.string({ message: 'every field must be a string' }).max(16 * 1024, 'field is too long'),
    )
    .refine((r) => Object.keys(r).length >= 1 && Object.keys(r).length <= 50, {
      message: 'between 1 and 50 fields',
    }),
  defaultBaseUrl: null,
  env: {},
  verify: null,
};
