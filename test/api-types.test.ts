import { beforeAll, describe, expect, it } from 'vitest';
import type { OpenAPI3 } from 'openapi-typescript';
import {
  apiTypesDrift,
  generateApiTypes,
  readCommitted,
  servedDocument,
} from '../scripts/gen-api.ts';

/**
 * The API types the SDK (`sdk/src/types.ts`) and the dashboard (`dashboard/src/api.ts`) are
 * built on are generated from the served OpenAPI document (`npm run gen:api`). Regenerated here
 * in memory: when a route's schema changes and the committed file was not regenerated, this
 * fails and says what to run.
 */
describe('the generated API types (sdk/src/generated/openapi.ts)', () => {
  let document: OpenAPI3;
  let generated: string;

  beforeAll(async () => {
    document = await servedDocument();
    generated = await generateApiTypes(structuredClone(document));
  }, 60_000);

  it('are what `npm run gen:api` makes of the served document today', () => {
    const drift = apiTypesDrift(readCommitted(), generated);
    expect(drift, drift ?? '').toBeNull();
  });

  it('fail on an altered copy of the file, saying where and what to run', () => {
    const altered = generated.replace('windowSeconds: number;', 'windowSeconds: string;');
    expect(altered).not.toBe(generated);
    const drift = apiTypesDrift(altered, generated);
    expect(drift).toMatch(/differs from the server's OpenAPI document \(first at line \d+\)/);
    expect(drift).toMatch(
      /committed: +windowSeconds: string;\n +generated: +windowSeconds: number;/,
    );
    expect(drift).toContain('Run `npm run gen:api`');
    expect(apiTypesDrift(null, generated)).toContain('is missing: run `npm run gen:api`');
  });

  it('change when a response schema in the document changes', async () => {
    const changed = structuredClone(document);
    const client = changed.components!.schemas!.Client as { properties: Record<string, unknown> };
    delete client.properties.tier;
    const regenerated = await generateApiTypes(changed);
    expect(apiTypesDrift(generated, regenerated)).toContain('Run `npm run gen:api`');
  }, 60_000);
});
