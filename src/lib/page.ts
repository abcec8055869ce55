/** One page of a list, and the cursor of the next (null on the last page). */
export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

export interface PageSize {
  limit?: number;
  /** When no limit is asked for (default 50). */
  defaultLimit?: number;
  /** The largest page (default 1000). */
  maxLimit?: number;
}

/**
 * Keyset pagination, the one way every list pages: read one row more than the page to know
 * whether another follows; the cursor is the last item's (its id, or its sequence number).
 */
export async function readPage<R, T>(
  size: PageSize,
  fetch: (limitPlusOne: number) => Promise<R[]>,
  toData: (rows: R[]) => T[] | Promise<T[]>,
  cursorOf: (item: T) => string,
): Promise<Page<T>> {
  const limit = Math.min(Math.max(size.limit ?? size.defaultLimit ?? 50, 1), size.maxLimit ?? 1000);
  const rows = await fetch(limit + 1);
  const data = await toData(rows.slice(0, limit));
  const last = data[data.length - 1];
  return { data, nextCursor: rows.length > limit && last ? cursorOf(last) : null };
}

/** The cursor of most lists: the item's id. */
export const byId = (item: { id: string }): string => item.id;
