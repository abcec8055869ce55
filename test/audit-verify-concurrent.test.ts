import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './support/harness.ts';
import { ENGINES } from './support/stores.ts';

/**
 * `audit verify` while the log is being written (a running server audits every change): the
 * chain as of the head it read must verify; an entry appended meanwhile is not "missing".
 * Found by the key lifecycle model test, whose failed call audits `auth.failed` without
 * waiting, while the sequence's last check verified the chain.
 */
describe.each(ENGINES)('audit verify during appends on %s', (engine) => {
  let h: Harness;
  beforeEach(async () => {
    h = await createHarness(engine);
  });
  afterEach(async () => h?.close());

  it('answers ok for every verify that runs while entries are appended', async () => {
    let appending = true;
    const writer = (async () => {
      for (let i = 0; i < 300 && appending; i++) {
        await h.services.audit.record({
          actor: { type: 'system', id: 'writer' },
          action: 'test.appended',
          targetType: 'test',
          targetId: `t${i}`,
        });
      }
    })();
    const verdicts = [];
    try {
      for (let i = 0; i < 30; i++) verdicts.push(await h.services.audit.verify());
    } finally {
      appending = false;
      await writer;
    }
    expect(verdicts.filter((v) => !v.ok)).toEqual([]);
    expect((await h.services.audit.verify()).ok).toBe(true);
  });
});
