/**
 * The clients module's public surface: clients (tenants) and their lifecycle, the reads other
 * modules may build before the service, and the types they see. Other modules import from
 * here, never from the module's files.
 */
export {
  createClientsService,
  type ClientKeys,
  type ClientsService,
  type ClientsServiceDeps,
  type CreateClientInput,
  type UpdateClientInput,
} from './clients-service.ts';
export { clientSnapshots, createClientReads, toClient, type ClientReads } from './clients-read.ts';
export { createClientsStore, type ClientsStore } from './clients-store.ts';
export type { Client, ClientStatus, ClientsTables, RateLimitSetting } from './clients-types.ts';
