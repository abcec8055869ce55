import type { Kysely } from 'kysely';
import type { Database } from '../store/database.ts';
import type {
  LeakAction,
  LeakPoliciesTable,
  LeakPolicy,
  LeakReportsTable,
  LeakSealedKeysTable,
} from './leaks-types.ts';

/** The leaks module's own tables; every read of a client's rows takes the client id. */
export function createLeaksStore(db: Kysely<Database>) {
  return {
    ...reportStore(db),
    ...signatureStore(db),
    ...policyStore(db),
    ...sealedKeyStore(db),
    /** A deleted client's rows go with it (its sealed keys can never be shown). */
    async forgetClient(clientId: string): Promise<void> {
      await db.deleteFrom('leak_sealed_keys').where('client_id', '=', clientId).execute();
      await db.deleteFrom('leak_policies').where('client_id', '=', clientId).execute();
    },
  };
}

export type LeaksStore = ReturnType<typeof createLeaksStore>;

function reportStore(db: Kysely<Database>) {
  return {
    /**
     * Claims a key hash for a report: true when this call stored it (and so acts on the key),
     * false when an earlier report had (the same token reported twice acts once, on any node).
     */
    async claimReport(row: LeakReportsTable): Promise<boolean> {
      const res = await db
        .insertInto('leak_reports')
        .values(row)
        .onConflict((oc) => oc.column('token_hash').doNothing())
        .executeTakeFirst();
      return Number(res.numInsertedOrUpdatedRows ?? 0n) === 1;
    },
    async findReport(tokenHash: string): Promise<LeakReportsTable | undefined> {
      return db
        .selectFrom('leak_reports')
        .selectAll()
        .where('token_hash', '=', tokenHash)
        .executeTakeFirst();
    },
    /**
     * Records what a report did, and runs `alongside` (the `key.exposed` webhook's outbox
     * write) in the same transaction: the event is committed with the report's outcome or not
     * at all.
     */
    async finishReport(
      id: string,
      action: LeakAction,
      newKeyId: string | null,
      alongside?: (trx: Kysely<Database>) => Promise<void>,
    ): Promise<void> {
      await db.transaction().execute(async (trx) => {
        await trx
          .updateTable('leak_reports')
          .set({ action, new_key_id: newKeyId })
          .where('id', '=', id)
          .execute();
        await alongside?.(trx);
      });
    },
    async listReports(opts: {
      clientId?: string;
      limit: number;
      cursor?: string;
    }): Promise<LeakReportsTable[]> {
      let q = db.selectFrom('leak_reports').selectAll().orderBy('id', 'desc').limit(opts.limit);
      if (opts.clientId) q = q.where('client_id', '=', opts.clientId);
      if (opts.cursor) q = q.where('id', '<', opts.cursor);
      return q.execute();
    },
  };
}

function signatureStore(db: Kysely<Database>) {
  return {
    /**
     * Records a partner signature; false when the same signature was accepted since `since`
     * (a replay). An older row is taken over: its window has passed.
     */
    async claimSignature(digest: string, now: string, since: string): Promise<boolean> {
      const res = await db
        .insertInto('leak_signatures')
        .values({ digest, seen_at: now })
        .onConflict((oc) =>
          oc
            .column('digest')
            .doUpdateSet({ seen_at: now })
            .where('leak_signatures.seen_at', '<', since),
        )
        .executeTakeFirst();
      return Number(res.numInsertedOrUpdatedRows ?? 0n) === 1;
    },
    async pruneSignatures(before: string): Promise<void> {
      await db.deleteFrom('leak_signatures').where('seen_at', '<', before).execute();
    },
  };
}

function policyStore(db: Kysely<Database>) {
  return {
    async getPolicy(clientId: string): Promise<LeakPolicy | null> {
      const row = await db
        .selectFrom('leak_policies')
        .select('policy')
        .where('client_id', '=', clientId)
        .executeTakeFirst();
      return row?.policy ?? null;
    },
    async setPolicy(row: LeakPoliciesTable): Promise<void> {
      await db
        .insertInto('leak_policies')
        .values(row)
        .onConflict((oc) =>
          oc.column('client_id').doUpdateSet({ policy: row.policy, updated_at: row.updated_at }),
        )
        .execute();
    },
    async clearPolicy(clientId: string): Promise<void> {
      await db.deleteFrom('leak_policies').where('client_id', '=', clientId).execute();
    },
  };
}

function sealedKeyStore(db: Kysely<Database>) {
  return {
    async insertSealedKey(row: LeakSealedKeysTable): Promise<void> {
      await db.insertInto('leak_sealed_keys').values(row).execute();
    },
    async listSealedKeys(clientId: string): Promise<LeakSealedKeysTable[]> {
      return db
        .selectFrom('leak_sealed_keys')
        .selectAll()
        .where('client_id', '=', clientId)
        .orderBy('created_at', 'asc')
        .execute();
    },
    /**
     * Takes one sealed replacement key out: the row is deleted by the call that reads it, so a
     * key is shown once even when two portal views race (only one delete succeeds).
     */
    async takeSealedKey(clientId: string, keyId: string): Promise<LeakSealedKeysTable | null> {
      const row = await db
        .selectFrom('leak_sealed_keys')
        .selectAll()
        .where('client_id', '=', clientId)
        .where('key_id', '=', keyId)
        .executeTakeFirst();
      if (!row) return null;
      const res = await db
        .deleteFrom('leak_sealed_keys')
        .where('client_id', '=', clientId)
        .where('key_id', '=', keyId)
        .executeTakeFirst();
      return Number(res.numDeletedRows) === 1 ? row : null;
    },
    async countSealedKeys(clientId: string): Promise<number> {
      const row = await db
        .selectFrom('leak_sealed_keys')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('client_id', '=', clientId)
        .executeTakeFirst();
      return Number(row?.n ?? 0);
    },
  };
}
