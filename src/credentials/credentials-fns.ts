import { AppError } from '../lib/errors.ts';
import {
  PLATFORM_OWNER,
  type Credential,
  type CredentialType,
  type CredentialsTable,
  type Permission,
  type Provider,
  type VerificationStatus,
} from './credentials-types.ts';

export function checkName(name: unknown): string {
  if (typeof name !== 'string' || !name.trim()) {
    throw new AppError('validation_failed', 'credentialName: required (1-200 characters)', {
      context: { field: 'credentialName' },
    });
  }
  const n = name.trim();
  if (n.length > 200 || [...n].some((ch) => ch.charCodeAt(0) < 0x20)) {
    throw new AppError('validation_failed', 'credentialName: 1-200 printable characters', {
      context: { field: 'credentialName' },
    });
  }
  return n;
}

/** A row as the API shows it, plus use counts not yet flushed to the store. */
export function toCredential(
  r: CredentialsTable,
  pendingUse?: { count: number; last: string },
): Credential {
  let lastUsedAt = r.last_used_at;
  if (pendingUse && (!lastUsedAt || pendingUse.last > lastUsedAt)) lastUsedAt = pendingUse.last;
  return {
    id: r.id,
    clientId: r.client_id === PLATFORM_OWNER ? null : r.client_id,
    name: r.name,
    provider: r.provider as Provider,
    type: r.type as CredentialType,
    permissions: r.permissions as Permission,
    fields: JSON.parse(r.fields) as string[],
    isActive: r.is_active === 1 && !r.deleted_at,
    isVerified: r.is_verified === 1,
    lastVerifiedAt: r.last_verified_at,
    verification: r.verify_status
      ? { status: r.verify_status as VerificationStatus, message: r.verify_message ?? '' }
      : null,
    lastUsedAt,
    usageCount: Number(r.usage_count) + (pendingUse?.count ?? 0),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    deletedAt: r.deleted_at,
  };
}

/** One entry of a credential's audit trail, as the API shows it. */
export interface TrailEntry {
  id: string;
  createdAt: string;
  action: string;
  actorType: string;
  /** Absent in a client's view of someone else's act. */
  actorId?: string;
  ip?: string | null;
  data: Record<string, unknown>;
}

/**
 * A client's view of its own credential's trail: its own acts keep their key id (and IP);
 * anyone else is just `operator` (admin tokens, the CLI) or `system`, with no id and no IP,
 * so the trail never hands a client the operator's token ids or addresses.
 */
export function clientViewOfTrailEntry(e: TrailEntry): TrailEntry {
  if (e.actorType === 'client') return e;
  const { actorId: _id, ip: _ip, ...rest } = e;
  return { ...rest, actorType: e.actorType === 'system' ? 'system' : 'operator' };
}
