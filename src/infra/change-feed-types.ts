export type { ChangeLogTable, ChangeLogTables } from '../store/tables/change-log.ts';
