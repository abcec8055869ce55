/**
 * The audit module's public surface: the tamper-evident audit log (record, list, verify the
 * hash chain) and the `Actor` every audited change names. Other modules import from here,
 * never from the module's files.
 */
export { createAuditService, type AuditService } from './audit-service.ts';
export { createAuditStore } from './audit-store.ts';
export type { Actor } from './audit-types.ts';
