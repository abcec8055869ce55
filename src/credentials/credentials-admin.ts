import type { Actor } from '../audit/index.ts';
import { checkEnum } from '../lib/check.ts';
import { AppError } from '../lib/errors.ts';
import { newId } from '../lib/ids.ts';
import { isUniqueViolation } from '../store/store-errors.ts';
import {
  announce,
  auditClientId,
  mustBeClient,
  mustBeLive,
  mustFind,
  seal,
  validated,
  view,
  type CredentialsContext,
} from './credentials-context.ts';
import { checkName } from './credentials-fns.ts';
import {
  CREDENTIAL_TYPES,
  PERMISSIONS,
  PLATFORM_OWNER,
  type CreateCredentialInput,
  type Credential,
  type CredentialsTable,
  type ImportCredentialInput,
  type Provider,
  type UpdateCredentialInput,
} from './credentials-types.ts';
import { providerSpec, validateSecret } from './providers/index.ts';

/** Storing, changing and deleting credentials; each act is audited and evicts every node's cache. */
export function createCredentialsAdmin(ctx: CredentialsContext) {
  return {
    create: (owner: string, input: CreateCredentialInput, actor: Actor) =>
      create(ctx, owner, input, actor),
    importCredential: (owner: string, input: ImportCredentialInput, actor: Actor) =>
      importCredential(ctx, owner, input, actor),
    update: (owner: string, id: string, input: UpdateCredentialInput, actor: Actor) =>
      update(ctx, owner, id, input, actor),
    remove: (owner: string, id: string, actor: Actor) => remove(ctx, owner, id, actor),
    removeAllFor: (clientId: string, actor: Actor) => removeAllFor(ctx, clientId, actor),
  };
}

async function create(
  ctx: CredentialsContext,
  owner: string,
  input: CreateCredentialInput,
  actor: Actor,
): Promise<Credential> {
  const v = await validated(
    ctx,
    () => {
      const spec = providerSpec(input.provider);
      return {
        spec,
        name: checkName(input.credentialName),
        type: checkEnum('credentialType', input.credentialType, CREDENTIAL_TYPES, spec.defaultType),
        permissions: checkEnum('permissions', input.permissions, PERMISSIONS, 'read_only'),
        fields: validateSecret(spec.name, input.credentials),
      };
    },
    { owner, actor, operation: 'create' },
  );
  if (owner !== PLATFORM_OWNER) await mustBeClient(ctx, owner);
  const now = ctx.clock.now();
  const iso = now.toISOString();
  const id = newId('cred', now.getTime());
  const sealed = seal(ctx, owner, id, v.fields);
  const row: CredentialsTable = {
    id,
    client_id: owner,
    provider: v.spec.name,
    name: v.name,
    active_name: v.name,
    type: v.type,
    permissions: v.permissions,
    fields: JSON.stringify(Object.keys(v.fields)),
    secret: sealed.secret,
    wrapped_key: sealed.wrappedKey,
    master_key_id: sealed.masterKeyId,
    is_active: 1,
    is_verified: 0,
    last_verified_at: null,
    verify_status: null,
    verify_message: null,
    last_used_at: null,
    usage_count: 0,
    created_at: iso,
    updated_at: iso,
    deleted_at: null,
  };
  try {
    await ctx.store.insert(row);
  } catch (err) {
    if (isUniqueViolation(err)) {
      throw new AppError(
        'conflict',
        `a ${v.spec.name} credential named "${v.name}" already exists`,
      );
    }
    throw err;
  }
  await announce(ctx, owner, id);
  await ctx.audit.record({
    actor,
    action: 'credential.created',
    targetType: 'credential',
    targetId: id,
    clientId: auditClientId(owner),
    data: {
      provider: row.provider,
      name: row.name,
      type: row.type,
      permissions: row.permissions,
      fields: Object.keys(v.fields),
      masterKeyId: sealed.masterKeyId,
    },
  });
  return view(ctx, row);
}

async function importCredential(
  ctx: CredentialsContext,
  owner: string,
  input: ImportCredentialInput,
  actor: Actor,
): Promise<Credential> {
  const spec = providerSpec(input.provider);
  const name = checkName(input.credentialName);
  const type = checkEnum(
    'credentialType',
    input.credentialType,
    CREDENTIAL_TYPES,
    spec.defaultType,
  );
  const permissions = checkEnum('permissions', input.permissions, PERMISSIONS, 'read_only');
  const fields = validateSecret(spec.name, input.credentials);
  await mustBeClient(ctx, owner);
  const now = ctx.clock.now().toISOString();
  const createdAt = input.createdAt ?? now;
  const id = newId('cred', Date.parse(createdAt));
  const sealed = seal(ctx, owner, id, fields);
  const row: CredentialsTable = {
    id,
    client_id: owner,
    provider: spec.name,
    name,
    active_name: name,
    type,
    permissions,
    fields: JSON.stringify(Object.keys(fields)),
    secret: sealed.secret,
    wrapped_key: sealed.wrappedKey,
    master_key_id: sealed.masterKeyId,
    is_active: input.isActive ? 1 : 0,
    is_verified: input.isVerified ? 1 : 0,
    last_verified_at: input.lastVerifiedAt,
    verify_status: input.isVerified ? 'verified' : null,
    verify_message: input.isVerified ? 'verified before the import' : null,
    last_used_at: input.lastUsedAt,
    usage_count: input.usageCount,
    created_at: createdAt,
    updated_at: input.updatedAt ?? now,
    deleted_at: null,
  };
  try {
    await ctx.store.insert(row);
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
    throw new AppError('conflict', `a ${spec.name} credential named "${name}" already exists`);
  }
  await announce(ctx, owner, id);
  await ctx.audit.record({
    actor,
    action: 'credential.imported',
    targetType: 'credential',
    targetId: id,
    clientId: auditClientId(owner),
    data: {
      provider: row.provider,
      name,
      type,
      permissions,
      fields: Object.keys(fields),
      masterKeyId: sealed.masterKeyId,
      ...input.origin,
    },
  });
  return view(ctx, row);
}

/** The columns an update changes (a new secret sealed under a new data key), and their names. */
function patchOf(
  ctx: CredentialsContext,
  owner: string,
  row: CredentialsTable,
  input: UpdateCredentialInput,
) {
  const id = row.id;
  const patch: Partial<CredentialsTable> = {};
  const changed: string[] = [];
  if (input.credentialName !== undefined) {
    patch.name = patch.active_name = checkName(input.credentialName);
    changed.push('name');
  }
  if (input.credentialType !== undefined) {
    patch.type = checkEnum('credentialType', input.credentialType, CREDENTIAL_TYPES, row.type);
    changed.push('type');
  }
  if (input.permissions !== undefined) {
    patch.permissions = checkEnum('permissions', input.permissions, PERMISSIONS, row.permissions);
    changed.push('permissions');
  }
  if (input.isActive !== undefined) {
    patch.is_active = input.isActive ? 1 : 0;
    changed.push('isActive');
  }
  if (input.credentials !== undefined) {
    const fields = validateSecret(row.provider as Provider, input.credentials);
    // A new secret gets a new data key, and its verification starts over.
    const sealed = seal(ctx, owner, id, fields);
    Object.assign(patch, {
      secret: sealed.secret,
      wrapped_key: sealed.wrappedKey,
      master_key_id: sealed.masterKeyId,
      fields: JSON.stringify(Object.keys(fields)),
      is_verified: 0,
      last_verified_at: null,
      verify_status: null,
      verify_message: null,
    });
    changed.push('credentials');
  }
  return { patch, changed };
}

async function update(
  ctx: CredentialsContext,
  owner: string,
  id: string,
  input: UpdateCredentialInput,
  actor: Actor,
): Promise<Credential> {
  const row = await mustFind(ctx, owner, id);
  mustBeLive(row);
  const { patch, changed } = await validated(ctx, () => patchOf(ctx, owner, row, input), {
    owner,
    actor,
    operation: 'update',
    id,
  });
  if (!changed.length) return view(ctx, row);
  patch.updated_at = ctx.clock.now().toISOString();
  try {
    if (!(await ctx.store.update(owner, id, patch)))
      throw new AppError('conflict', 'credential was deleted');
  } catch (err) {
    if (isUniqueViolation(err)) {
      throw new AppError(
        'conflict',
        `a ${row.provider} credential named "${patch.name}" already exists`,
      );
    }
    throw err;
  }
  await announce(ctx, owner, id);
  await ctx.audit.record({
    actor,
    action: 'credential.updated',
    targetType: 'credential',
    targetId: id,
    clientId: auditClientId(owner),
    data: { provider: row.provider, changed, ...(patch.name && { name: patch.name }) },
  });
  return view(ctx, await mustFind(ctx, owner, id));
}

/** Soft delete: the row stays (metadata, audit trail); its data key is shredded. */
async function remove(
  ctx: CredentialsContext,
  owner: string,
  id: string,
  actor: Actor,
): Promise<Credential> {
  const row = await mustFind(ctx, owner, id);
  if (row.deleted_at) return view(ctx, row);
  // Uses before the deletion are written before it: the trail stays in order.
  await ctx.uses.flush();
  const at = ctx.clock.now().toISOString();
  if (await ctx.store.softDelete(owner, id, at)) {
    await announce(ctx, owner, id);
    await ctx.audit.record({
      actor,
      action: 'credential.deleted',
      targetType: 'credential',
      targetId: id,
      clientId: auditClientId(owner),
      data: { provider: row.provider, name: row.name, dataKeyShredded: true },
    });
  }
  return view(ctx, await mustFind(ctx, owner, id));
}

/** The client was deleted: every credential it had is deleted and shredded. */
async function removeAllFor(
  ctx: CredentialsContext,
  clientId: string,
  actor: Actor,
): Promise<number> {
  await ctx.uses.flush();
  const ids = await ctx.store.softDeleteAll(clientId, ctx.clock.now().toISOString());
  for (const id of ids) {
    await announce(ctx, clientId, id);
    await ctx.audit.record({
      actor,
      action: 'credential.deleted',
      targetType: 'credential',
      targetId: id,
      clientId,
      data: { reason: 'client deleted', dataKeyShredded: true },
    });
  }
  return ids.length;
}
