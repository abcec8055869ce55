import type { Actor, AuditService } from '../audit/index.ts';
import { ConfigError } from '../config.ts';
import type { Keyring } from '../infra/master-key.ts';
import type { MetaStore } from '../store/meta-store.ts';
import {
  masterKeyCheckValue,
  rewrapDataKey,
  unwrapDataKey,
  VaultCryptoError,
} from './credentials-crypto.ts';
import type { CredentialsStore } from './credentials-store.ts';
import type { RewrapReport } from './credentials-types.ts';

const META_CHECK = (keyId: string) => `credentials.master-key-check.${keyId}`;

interface MaintenanceDeps {
  store: CredentialsStore;
  keyring: Keyring;
  metaStore: MetaStore;
  audit: AuditService;
  /** A data key moved: caches of the opened secret drop it (the change feed). */
  onRewrapped?: (owner: string, id: string) => Promise<void>;
}

export interface RewrapOptions {
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
  actor?: Actor;
}

/** Master-key maintenance: rewrap to the active key, and the start-up keyring check. */
export function createKeyMaintenance(deps: MaintenanceDeps) {
  return {
    rewrap: (opts: RewrapOptions = {}) => rewrap(deps, opts),
    checkKeyring: () => checkKeyring(deps),
  };
}

/**
 * Moves every data key to the active master key. Secrets stay sealed; each data key is
 * unwrapped in memory and wrapped again, compare-and-set so concurrent writes win.
 */
async function rewrap(deps: MaintenanceDeps, opts: RewrapOptions): Promise<RewrapReport> {
  const { store, keyring } = deps;
  const active = keyring.activeId;
  const total = await store.countWrappedWithOther(active);
  const report: RewrapReport = { activeKeyId: active, total, rewrapped: 0, failed: [] };
  let after = '';
  let done = 0;
  opts.onProgress?.(0, total);
  for (;;) {
    const rows = await store.pageWrappedWithOther(active, after, opts.batchSize ?? 200);
    if (!rows.length) break;
    for (const r of rows) {
      after = r.id;
      try {
        const next = rewrapDataKey(
          keyring,
          { credentialId: r.id, ownerId: r.client_id },
          r.wrapped_key!,
          r.master_key_id!,
        );
        if (await store.replaceWrappedKey(r.client_id, r.id, r.wrapped_key!, next)) {
          report.rewrapped++;
          await deps.onRewrapped?.(r.client_id, r.id);
        }
      } catch (err) {
        if (!(err instanceof VaultCryptoError)) throw err;
        report.failed.push({ id: r.id, reason: err.message });
      }
      opts.onProgress?.(++done, Math.max(total, done));
    }
  }
  await deps.audit.record({
    actor: opts.actor ?? { type: 'system', id: 'rewrap' },
    action: 'credentials.rewrapped',
    targetType: 'credential',
    data: { activeKeyId: active, total, rewrapped: report.rewrapped, failed: report.failed.length },
  });
  return report;
}

/** How the operator set the master keys, to name it in a start-up problem. */
function keyringVariable(keyring: Keyring): string {
  return keyring.source === 'file' || keyring.source === 'generated'
    ? 'the master key file'
    : keyring.keys.size > 1 || keyring.activeId !== 'default'
      ? 'KEYPLANE_MASTER_KEYS'
      : 'KEYPLANE_MASTER_KEY';
}

/**
 * Start-up check: every master key matches the one this store first saw under its id, and
 * every data key in use can be unwrapped. A wrong key fails here with a clear message
 * instead of answering garbage later.
 */
async function checkKeyring(deps: MaintenanceDeps): Promise<void> {
  const { store, keyring } = deps;
  const problems: string[] = [];
  const varName = keyringVariable(keyring);
  for (const [id, key] of keyring.keys) {
    const check = masterKeyCheckValue(key, id);
    const stored = await deps.metaStore.get(META_CHECK(id));
    if (stored === null) await deps.metaStore.claim(META_CHECK(id), check);
    else if (stored !== check) {
      problems.push(
        `${varName}: master key "${id}" is not the key this store was set up with (its check value differs); start with the original key`,
      );
    }
  }
  for (const { masterKeyId, sampleId } of await store.masterKeyIdsInUse()) {
    if (!keyring.keys.has(masterKeyId)) {
      problems.push(
        `${varName}: stored credentials are wrapped with master key "${masterKeyId}", which the keyring does not hold; add it back (KEYPLANE_MASTER_KEYS=${masterKeyId}:…,…) and run \`keyplane credentials rewrap\` before retiring it`,
      );
      continue;
    }
    const row = await store.findAny(sampleId);
    if (!row?.wrapped_key) continue;
    try {
      unwrapDataKey(
        keyring,
        { credentialId: row.id, ownerId: row.client_id },
        row.wrapped_key,
        masterKeyId,
      );
    } catch {
      problems.push(
        `${varName}: master key "${masterKeyId}" cannot open the stored data keys; this is not the key they were sealed with`,
      );
    }
  }
  if (problems.length) throw new ConfigError(problems);
}
