import type { Migration } from 'kysely';
import * as spine from './0001-spine.ts';
import * as clientsKeys from './0002-clients-keys.ts';
import * as usage from './0003-usage.ts';
import * as changeLog from './0003-change-log.ts';
import * as credentials from './0004-credentials.ts';
import * as billing from './0005-billing.ts';
import * as usageBlocks from './0006-usage-blocks.ts';
import * as dashboardSessions from './0007-dashboard-sessions.ts';
import * as keyCreditPools from './0008-key-credit-pools.ts';
import * as leaks from './0009-leaks.ts';
import * as webhooks from './0011-webhooks.ts';
import * as imports from './0012-import.ts';
import * as budgets from './0013-budgets.ts';
import * as webhookEvents from './0014-webhook-events.ts';
import * as budgetLeases from './0015-budget-leases.ts';
import * as usageBlocksOneVersion from './0016-usage-blocks-one-version.ts';
import * as budgetHolds from './0017-budget-holds.ts';
import * as budgetFull from './0018-budget-full.ts';
import * as budgetAlertMails from './0019-budget-alert-mails.ts';
import * as budgetReservations from './0020-budget-reservations.ts';

/**
 * Every migration, in order. Each module adds its own file; names sort by their number.
 * Keep them append-only: a landed migration is never edited.
 */
export const migrations: Record<string, Migration> = {
  '0001-spine': spine,
  '0002-clients-keys': clientsKeys,
  '0003-usage': usage,
  '0003-change-log': changeLog,
  '0004-credentials': credentials,
  '0005-billing': billing,
  '0006-usage-blocks': usageBlocks,
  '0007-dashboard-sessions': dashboardSessions,
  '0008-key-credit-pools': keyCreditPools,
  '0009-leaks': leaks,
  '0011-webhooks': webhooks,
  '0012-import': imports,
  '0013-budgets': budgets,
  '0014-webhook-events': webhookEvents,
  '0015-budget-leases': budgetLeases,
  '0016-usage-blocks-one-version': usageBlocksOneVersion,
  '0017-budget-holds': budgetHolds,
  '0018-budget-full': budgetFull,
  '0019-budget-alert-mails': budgetAlertMails,
  '0020-budget-reservations': budgetReservations,
};
