/**
 * A second node for the key lifecycle model test: opens its own services on the database of
 * KEYPLANE_DATABASE_URL (the usual KEYPLANE_* environment) and, on the start signal (a line on
 * stdin, so both workers begin together), either verifies argv[3] `count` times (`spend KEY N`)
 * or rolls a key (`roll CLIENT_ID KEY_ID GRACE_SECONDS`). Prints one JSON line with the outcome.
 * Run with `node --import tsx`, or as its bundle (test/support/keyplane-bundle.ts).
 */
import { createInterface } from 'node:readline';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/infra/logger.ts';
import { openRuntime } from '../../src/runtime.ts';

const [action, ...args] = process.argv.slice(2) as [string, ...string[]];
const services = await openRuntime(
  loadConfig(process.env, process.cwd()),
  createLogger({ level: 'silent' }),
  {
    migrate: false,
  },
);
const actor = { type: 'system' as const, id: `worker-${process.pid}` };
try {
  process.stdout.write('ready\n');
  await new Promise<void>((go) =>
    createInterface({ input: process.stdin }).once('line', () => go()),
  );
  if (action === 'spend') {
    const [apiKey, count] = args as [string, string];
    let valid = 0;
    for (let i = 0; i < Number(count); i++) {
      if ((await services.keys.verify(apiKey)).valid) valid++;
    }
    process.stdout.write(`${JSON.stringify({ valid })}\n`);
  } else if (action === 'roll') {
    const [clientId, keyId, grace] = args as [string, string, string];
    try {
      const r = await services.keys.roll(clientId, keyId, actor, Number(grace));
      process.stdout.write(
        `${JSON.stringify({ rolled: true, keyId: r.key.id, apiKey: r.apiKey })}\n`,
      );
    } catch (err) {
      process.stdout.write(
        `${JSON.stringify({ rolled: false, code: (err as { code?: string }).code })}\n`,
      );
    }
  } else throw new Error(`unknown action ${action}`);
} finally {
  await services.close();
}
