import { describe, expect, it } from 'vitest';
import { byId, readPage } from './page.ts';

const rows = Array.from({ length: 7 }, (_, i) => ({ id: `r${i}` }));
const fetchFrom = (asked: number[]) => async (n: number) => {
  asked.push(n);
  return rows.slice(0, n);
};

describe('readPage', () => {
  it('reads one row more than the page and names the last item as the cursor', async () => {
    const asked: number[] = [];
    const page = await readPage({ limit: 3 }, fetchFrom(asked), (r) => r, byId);
    expect(asked).toEqual([4]);
    expect(page).toEqual({ data: rows.slice(0, 3), nextCursor: 'r2' });
  });

  it('has no cursor on the last page', async () => {
    const page = await readPage({ limit: 10 }, fetchFrom([]), (r) => r, byId);
    expect(page.data).toHaveLength(7);
    expect(page.nextCursor).toBeNull();
  });

  it('bounds the limit to [1, max] and uses the default when none is asked', async () => {
    const asked: number[] = [];
    await readPage({ limit: 0 }, fetchFrom(asked), (r) => r, byId);
    await readPage({ limit: 5000, maxLimit: 500 }, fetchFrom(asked), (r) => r, byId);
    await readPage({ defaultLimit: 100 }, fetchFrom(asked), (r) => r, byId);
    expect(asked).toEqual([2, 501, 101]);
  });
});
