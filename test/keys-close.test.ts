import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createVerifyCache } from '../src/keys/keys-verify-cache.ts';
import { createKeysStore } from '../src/keys/keys-store.ts';
import { createLogger } from '../src/infra/logger.ts';
import { logCapture } from './support/harness.ts';
import { createTestStore, ENGINES } from './support/stores.ts';

// A short-lived CLI command builds every service and closes them at once. The key cache counts
// the legacy keys at start; that count must end before the database does, or it fails against a
// destroyed driver and logs a warning into the command's stderr (seen in cli-admin-tokens).
describe.each(ENGINES)('key cache closed right after start on %s', (engine) => {
  it('waits for its legacy-key count before close resolves, and logs nothing after it', async () => {
    const t = await createTestStore(engine);
    const logs = logCapture();
    const store = createKeysStore(t.store.db);
    // The real count, held back until the test lets it run, as a loaded machine would.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const cache = createVerifyCache({
      keysStore: { ...store, countLegacy: () => gate.then(() => store.countLegacy()) },
      logger: createLogger({ level: 'info', destination: logs.stream }),
      changes: null,
    });
    let closed = false;
    const closing = cache.close().then(() => (closed = true));
    await nextTurn();
    expect(closed).toBe(false);
    release();
    await closing;
    await t.close();
    expect(logs.text()).not.toContain('could not count legacy keys');
  });
});
