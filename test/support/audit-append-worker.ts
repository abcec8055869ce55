/**
 * A second "node" for audit concurrency tests: opens its own store on the database given as
 * argv[2] and appends argv[3] audit entries as fast as it can, tagged with argv[4].
 * Run with `node --import tsx`, or as its bundle (test/support/keyplane-bundle.ts).
 */
import { createAuditService } from '../../src/audit/audit-service.ts';
import { createAuditStore } from '../../src/audit/audit-store.ts';
import { systemClock } from '../../src/lib/clock.ts';
import { createStore } from '../../src/store/create-db.ts';

const [url, count, tag] = process.argv.slice(2) as [string, string, string];
const store = createStore(url);
const audit = createAuditService({ auditStore: createAuditStore(store.db), clock: systemClock });
try {
  for (let i = 0; i < Number(count); i++) {
    await audit.record({
      actor: { type: 'system', id: tag },
      action: 'test.appended',
      targetType: 'test',
      targetId: `${tag}-${i}`,
    });
  }
} finally {
  await store.close();
}
