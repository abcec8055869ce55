import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './support/harness.ts';
import { partnerKey, signBody } from './support/leaks.ts';
import { ENGINES } from './support/stores.ts';

const printable = (max: number) => fc.stringMatching(new RegExp(`^[\\x20-\\x7e]{0,${max}}$`));
const body = fc.oneof(
  printable(300),
  fc.json({ maxDepth: 3 }),
  fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b)),
  fc
    .array(fc.record({ token: printable(80), type: fc.option(printable(20)) }), { maxLength: 5 })
    .map((a) => JSON.stringify(a)),
);
const contentType = fc.constantFrom(
  'application/json',
  'text/plain',
  'application/x-www-form-urlencoded',
  undefined,
);

/**
 * The GitHub endpoint under random input: never a 5xx. Unsigned (or badly signed) bodies are
 * always 4xx; correctly signed ones are 4xx unless they are a report (a JSON array), 200 then.
 */
describe.each(ENGINES)('fuzzing POST /v1/leaks/github on %s', (engine) => {
  const gh = partnerKey('fuzz');
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness(engine, {
      file: { leaks: { maxBodyBytes: 4096, github: { publicKeys: [gh.config] } } },
    });
  });
  afterAll(async () => h?.close());

  const post = (payload: string | Buffer, headers: Record<string, string | undefined>) =>
    h.app.inject({
      method: 'POST',
      url: '/v1/leaks/github',
      payload,
      headers: Object.fromEntries(
        Object.entries(headers).filter(([, v]) => v !== undefined),
      ) as Record<string, string>,
    });

  it('random bodies and headers, unsigned or badly signed: only 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        body,
        contentType,
        fc.option(fc.oneof(fc.constant('fuzz'), printable(40))),
        fc.option(printable(120)),
        async (payload, type, id, sig) => {
          const res = await post(payload, {
            'content-type': type,
            'github-public-key-identifier': id ?? undefined,
            'github-public-key-signature': sig ?? undefined,
          });
          expect(res.statusCode, res.body).toBeGreaterThanOrEqual(400);
          expect(res.statusCode, res.body).toBeLessThan(500);
          expect(res.json().error.code).toEqual(expect.any(String));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('random bodies correctly signed: 4xx unless a JSON array report, never 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(body, contentType, async (payload, type) => {
        const res = await post(payload, {
          'content-type': type,
          'github-public-key-identifier': 'fuzz',
          'github-public-key-signature': signBody(payload, gh.privateKey),
        });
        let isArray = false;
        try {
          isArray = Array.isArray(JSON.parse(Buffer.from(payload).toString('utf8')));
        } catch {
          /* not JSON */
        }
        if (res.statusCode === 200) expect(isArray).toBe(true);
        else {
          expect(res.statusCode, res.body).toBeGreaterThanOrEqual(400);
          expect(res.statusCode, res.body).toBeLessThan(500);
        }
      }),
      { numRuns: 150 },
    );
  });
});
