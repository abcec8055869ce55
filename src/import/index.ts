/**
 * The import module's public surface: importing another system's clients, keys, billing
 * details, usage and credentials (`keyplane import`), with its report. Other modules import
 * from here, never from the module's files.
 */
export { createImportService } from './import-service.ts';
export { createImportStore } from './import-store.ts';
export type { ImportReport } from './import-types.ts';
