import type { Kysely } from 'kysely';
import type { Database } from '../store/database.ts';
import type { ImportEntity } from './import-types.ts';

/** The import's own table: which source rows were imported, and as what. */
export function createImportStore(db: Kysely<Database>) {
  return {
    async find(source: string, entity: ImportEntity, sourceId: string): Promise<string | null> {
      const row = await db
        .selectFrom('import_records')
        .select('target_id')
        .where('source', '=', source)
        .where('entity', '=', entity)
        .where('source_id', '=', sourceId)
        .executeTakeFirst();
      return row?.target_id ?? null;
    },
    /** Every imported row of one entity of a source: source id → Keyplane id. */
    async all(source: string, entity: ImportEntity): Promise<Map<string, string>> {
      const rows = await db
        .selectFrom('import_records')
        .select(['source_id', 'target_id'])
        .where('source', '=', source)
        .where('entity', '=', entity)
        .execute();
      return new Map(rows.map((r) => [r.source_id, r.target_id]));
    },
    async insert(
      source: string,
      entity: ImportEntity,
      rows: Array<{ sourceId: string; targetId: string }>,
      at: string,
    ): Promise<void> {
      if (!rows.length) return;
      await db.transaction().execute(async (tx) => {
        for (let i = 0; i < rows.length; i += 200) {
          await tx
            .insertInto('import_records')
            .values(
              rows.slice(i, i + 200).map((r) => ({
                source,
                entity,
                source_id: r.sourceId,
                target_id: r.targetId,
                created_at: at,
              })),
            )
            .onConflict((oc) => oc.doNothing())
            .execute();
        }
      });
    },
  };
}

export type ImportStore = ReturnType<typeof createImportStore>;
