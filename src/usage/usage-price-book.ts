import { toMicros } from '../lib/money.ts';

/**
 * The price book from the config file (`pricing`): `"METHOD /route-template"` → price in
 * currency units. An entry ending in `*` (`"POST /v1/proxy/gemini/*"`) matches every endpoint
 * it is a prefix of (longest wins); `"*"` is the default; without one a call costs 0.
 */
export interface PriceBook {
  /** Unit price of one call, in micros. */
  priceOf(endpoint: string): number;
  /** The parsed book, for display. */
  entries: Array<{ endpoint: string; priceMicros: number }>;
}

export function compilePriceBook(pricing: Record<string, number | string>): PriceBook {
  const exact = new Map<string, number>();
  const prefixes: Array<[string, number]> = [];
  let fallback = 0;
  const entries: PriceBook['entries'] = [];
  for (const [endpoint, price] of Object.entries(pricing)) {
    let micros: number;
    try {
      micros = toMicros(price);
    } catch (err) {
      throw new RangeError(`pricing "${endpoint}": ${(err as Error).message}`, { cause: err });
    }
    if (micros < 0) throw new RangeError(`pricing "${endpoint}": must not be negative`);
    entries.push({ endpoint, priceMicros: micros });
    if (endpoint === '*') fallback = micros;
    else if (endpoint.endsWith('*')) prefixes.push([endpoint.slice(0, -1), micros]);
    else exact.set(endpoint, micros);
  }
  prefixes.sort((a, b) => b[0].length - a[0].length);
  // Endpoints are route templates, so there are few of them: memoize every answer.
  const cache = new Map<string, number>();
  return {
    entries,
    priceOf(endpoint) {
      let p = cache.get(endpoint);
      if (p !== undefined) return p;
      p = exact.get(endpoint);
      if (p === undefined) p = prefixes.find(([prefix]) => endpoint.startsWith(prefix))?.[1];
      if (p === undefined) p = fallback;
      if (cache.size < 10_000) cache.set(endpoint, p);
      return p;
    },
  };
}
