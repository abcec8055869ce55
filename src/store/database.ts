import type { AdminTokensTables } from '../admin-tokens/admin-tokens-types.ts';
import type { AuditTables } from '../audit/audit-types.ts';
import type { BudgetsTables } from '../budgets/budgets-types.ts';
import type { BillingTables } from '../billing/billing-types.ts';
import type { ChangeLogTables } from '../infra/change-feed-types.ts';
import type { ClientsTables } from '../clients/index.ts';
import type { CredentialsTables } from '../credentials/credentials-types.ts';
import type { DashboardTables } from '../dashboard/dashboard-types.ts';
import type { ImportTables } from '../import/import-types.ts';
import type { KeysTables } from '../keys/index.ts';
import type { LeaksTables } from '../leaks/leaks-types.ts';
import type { UsageTables } from '../usage/index.ts';
import type { WebhooksTables } from '../webhooks/webhooks-types.ts';
import type { MetaTables } from './meta-store.ts';

/**
 * Every table Keyplane has, assembled from the modules that own them. A module reads and
 * writes only its own tables.
 */
export interface Database
  extends
    MetaTables,
    AuditTables,
    AdminTokensTables,
    ClientsTables,
    KeysTables,
    ChangeLogTables,
    UsageTables,
    BillingTables,
    CredentialsTables,
    DashboardTables,
    LeaksTables,
    WebhooksTables,
    ImportTables,
    BudgetsTables {}
