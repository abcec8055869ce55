import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../store/database.ts';
import type { ClientStatus, ClientsTable } from './clients-types.ts';

export function createClientsStore(db: Kysely<Database>) {
  return {
    ...clientsQueries(db),
    /**
     * Runs `fn` in one transaction: the store's queries bound to it, and the transaction itself
     * for another module's writes that must commit with it (the webhooks outbox).
     */
    transaction<T>(
      fn: (store: ClientsQueries, trx: Transaction<Database>) => Promise<T>,
    ): Promise<T> {
      return db.transaction().execute((trx) => fn(clientsQueries(trx), trx));
    },
  };
}

type ClientsQueries = ReturnType<typeof clientsQueries>;

function clientsQueries(db: Kysely<Database>) {
  return {
    async insert(row: ClientsTable): Promise<void> {
      await db.insertInto('clients').values(row).execute();
    },
    async find(clientId: string): Promise<ClientsTable | undefined> {
      return db.selectFrom('clients').selectAll().where('id', '=', clientId).executeTakeFirst();
    },
    async list(opts: {
      limit: number;
      cursor?: string;
      status?: ClientStatus;
      /** Matches name, email, id or tier, ignoring case (a substring, taken literally). */
      search?: string;
    }): Promise<ClientsTable[]> {
      let q = db.selectFrom('clients').selectAll().orderBy('id', 'asc').limit(opts.limit);
      if (opts.cursor) q = q.where('id', '>', opts.cursor);
      if (opts.status) q = q.where('status', '=', opts.status);
      if (opts.search) {
        // LIKE with its wildcards escaped, on lower() of both sides: the same on SQLite (whose
        // LIKE ignores ASCII case) and PostgreSQL (whose LIKE does not).
        const pattern = `%${opts.search.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
        const like = (column: 'name' | 'email' | 'id' | 'tier') =>
          sql<boolean>`lower(${sql.ref(column)}) like ${pattern} escape '\\'`;
        q = q.where((eb) => eb.or([like('name'), like('email'), like('id'), like('tier')]));
      }
      return q.execute();
    },
    async update(
      clientId: string,
      patch: Partial<Omit<ClientsTable, 'id' | 'created_at'>>,
    ): Promise<boolean> {
      const res = await db
        .updateTable('clients')
        .set(patch)
        .where('id', '=', clientId)
        .executeTakeFirst();
      return Number(res.numUpdatedRows) === 1;
    },
    /** Moves a client between statuses only from the expected one (no lost updates). */
    async transition(
      clientId: string,
      from: ClientStatus[],
      patch: Partial<Omit<ClientsTable, 'id' | 'created_at'>>,
    ): Promise<boolean> {
      const res = await db
        .updateTable('clients')
        .set(patch)
        .where('id', '=', clientId)
        .where('status', 'in', from)
        .executeTakeFirst();
      return Number(res.numUpdatedRows) === 1;
    },
  };
}

export type ClientsStore = ReturnType<typeof createClientsStore>;
