import type { Actor } from '../audit/index.ts';
import { isoOf } from '../lib/clock.ts';
import { AppError } from '../lib/errors.ts';
import type { CachedSecret } from './credentials-cache.ts';
import {
  mustBeClient,
  openOrFail,
  policyOf,
  type CredentialsContext,
} from './credentials-context.ts';
import {
  PLATFORM_OWNER,
  type CredentialsTable,
  type Policy,
  type Provider,
  type ResolvedCredential,
  type SecretFields,
} from './credentials-types.ts';
import type { Use } from './credentials-usage.ts';
import { providerSpec, secretFromEnvironment } from './providers/index.ts';

/** A resolve request: whose secret, for which provider; `requestId` names the call in the audit entry. */
export interface ResolveInput {
  clientId: string;
  provider: string;
  credentialId?: string;
  requestId?: string;
}

/** Counts the use (in memory: the ledger writes it within the flush interval) and answers. */
function handOut(
  ctx: CredentialsContext,
  c: CachedSecret,
  actor: Actor,
  requestId?: string,
): ResolvedCredential {
  ctx.uses.record({
    owner: c.owner,
    credentialId: c.credentialId,
    clientId: c.clientId,
    provider: c.provider,
    source: c.source,
    policy: c.policy,
    actor,
    requestId: requestId ?? null,
    at: isoOf(ctx.clock.nowMs()),
  });
  return {
    provider: c.provider as Provider,
    policy: c.policy as Policy,
    source: c.source,
    credentialId: c.credentialId,
    credentials: c.credentials as SecretFields,
  };
}

/** The credential the policy picks, opened; null when there is none to use. */
async function findForResolve(
  ctx: CredentialsContext,
  input: ResolveInput,
  provider: Provider,
  policy: Policy,
  actor: Actor,
): Promise<Omit<CachedSecret, 'expiresAt'> | null> {
  const owners: Array<{ owner: string; source: 'byok' | 'platform' }> = [];
  if (policy !== 'platform') owners.push({ owner: input.clientId, source: 'byok' });
  if (policy !== 'byok') owners.push({ owner: PLATFORM_OWNER, source: 'platform' });
  for (const { owner, source } of owners) {
    let row: CredentialsTable | undefined;
    if (input.credentialId && source === 'byok') {
      row = await ctx.store.find(owner, input.credentialId);
      if (!row || row.provider !== provider)
        throw new AppError('not_found', 'credential not found');
      if (!row.is_active || row.deleted_at) {
        throw new AppError('conflict', 'credential is not active');
      }
    } else {
      row = (await ctx.store.findActive(owner, provider))[0];
    }
    if (!row) continue;
    const fields = Object.freeze(await openOrFail(ctx, row, actor, 'resolve'));
    return {
      clientId: input.clientId,
      provider,
      policy,
      source,
      owner,
      credentialId: row.id,
      credentials: fields,
    };
  }
  return null;
}

/** Development mode only: a provider key from the environment, logged by variable name. */
function fromEnvironment(ctx: CredentialsContext, input: ResolveInput) {
  const provider = providerSpec(input.provider).name;
  const policy = policyOf(ctx, provider);
  const found = secretFromEnvironment(provider, ctx.deps.environment!);
  if (!found) return null;
  ctx.deps.logger.info(
    { clientId: input.clientId, provider, variables: found.variables },
    `[development] no stored ${provider} credential for this client: using ${found.variables.join(', ')} from the environment (production never does this)`,
  );
  const use: Omit<Use, 'actor' | 'requestId'> = {
    owner: input.clientId,
    credentialId: null,
    clientId: input.clientId,
    provider,
    source: 'environment',
    policy,
    at: isoOf(ctx.clock.nowMs()),
    variables: found.variables,
  };
  const resolved: ResolvedCredential = {
    provider,
    policy,
    source: 'environment',
    credentialId: null,
    credentials: found.fields,
  };
  return { use, resolved };
}

/** Nothing to hand out under the policy: audited, and answered with what to do about it. */
async function nothingToResolve(
  ctx: CredentialsContext,
  input: ResolveInput,
  provider: Provider,
  policy: Policy,
  actor: Actor,
): Promise<never> {
  await ctx.audit.record({
    actor,
    action: 'credential.failed',
    targetType: 'credential',
    targetId: input.credentialId ?? null,
    clientId: input.clientId,
    data: { operation: 'resolve', provider, policy, reason: 'no active credential' },
  });
  const where =
    policy === 'platform'
      ? `the operator has no active ${provider} platform credential`
      : policy === 'byok'
        ? `client has no active ${provider} credential: add one with POST /v1/credentials`
        : `neither the client nor the operator has an active ${provider} credential`;
  throw new AppError('not_found', `${where} (policy ${policy})`);
}

/**
 * For workers and the proxy: the secret to use for a client and provider, following the
 * provider's policy. Every use is accounted (`usageCount`, and a `credential.used` entry per
 * credential and actor per flush interval); every refusal is audited (`credential.failed`).
 * A hot resolution comes from the opened-secret cache: no store read, no decrypt, no write.
 */
export async function resolve(
  ctx: CredentialsContext,
  input: ResolveInput,
  actor: Actor,
): Promise<ResolvedCredential> {
  const { cache } = ctx;
  const key = cache.key(input.clientId, input.provider, input.credentialId);
  const hit = cache.get(key);
  if (hit) return handOut(ctx, hit, actor, input.requestId);
  const provider = providerSpec(input.provider).name;
  const policy = policyOf(ctx, provider);
  const generation = cache.generation();
  const client = await mustBeClient(ctx, input.clientId);
  if (client.status === 'suspended') {
    throw new AppError('client_suspended', 'client suspended: its credentials are not handed out');
  }
  const found = await findForResolve(ctx, input, provider, policy, actor);
  if (found) {
    cache.set(key, found, generation);
    return handOut(ctx, { ...found, expiresAt: 0 }, actor, input.requestId);
  }
  const fromEnv = ctx.deps.environment && !input.credentialId ? fromEnvironment(ctx, input) : null;
  if (fromEnv) {
    ctx.uses.record({ ...fromEnv.use, actor, requestId: input.requestId ?? null });
    return fromEnv.resolved;
  }
  return nothingToResolve(ctx, input, provider, policy, actor);
}
