import { existsSync, readFileSync } from 'node:fs';
import type { Harness } from './harness.ts';

/** Every column of every table, as one string: what PostgreSQL (or SQLite) holds, as text. */
export async function dumpDatabase(h: Harness): Promise<string> {
  const tables = await h.services.store.db.introspection.getTables();
  const parts: string[] = [];
  for (const t of tables) {
    const rows = await h.services.store.db
      .selectFrom(t.name as 'credentials')
      .selectAll()
      .execute();
    parts.push(JSON.stringify(rows));
  }
  return parts.join('\n');
}

/** The SQLite database file and its WAL and shared-memory files, byte for byte (none on PostgreSQL). */
export function sqliteFiles(h: Harness): Buffer {
  if (h.database.engine !== 'sqlite') return Buffer.alloc(0);
  const path = h.database.url.slice('sqlite:'.length);
  return Buffer.concat(
    [path, `${path}-wal`, `${path}-shm`].filter(existsSync).map((p) => readFileSync(p)),
  );
}
