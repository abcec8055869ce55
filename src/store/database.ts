import type { AdminTokensTables } from './tables/admin-tokens.ts';
import type { AuditTables } from './tables/audit.ts';
import type { BudgetsTables } from './tables/budgets.ts';
import type { BillingTables } from './tables/billing.ts';
import type { ChangeLogTables } from './tables/change-log.ts';
import type { ClientsTables } from './tables/clients.ts';
import type { CredentialsTables } from './tables/credentials.ts';
import type { DashboardTables } from './tables/dashboard.ts';
import type { ImportTables } from './tables/import.ts';
import type { KeysTables } from './tables/keys.ts';
import type { LeaksTables } from './tables/leaks.ts';
import type { UsageTables } from './tables/usage.ts';
import type { WebhooksTables } from './tables/webhooks.ts';
import type { MetaTables } from './meta-store.ts';

/**
 * Every table Keyplane has, assembled from `./tables/<module>.ts`: each file holds one
 * module's rows (the module's types file re-exports them), so the store imports no module and
 * every module may import the store. A module reads and writes only its own tables.
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
