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
} from './clients-service.ts';
export {
  CLIENT_STATUSES,
  createClientInput,
  importClientInput,
  listClientsFilter,
  suspendClientInput,
  updateClientInput,
  type CreateClientInput,
  type CreateClientRequest,
  type ImportClientInput,
  type ListClientsFilter,
  type SuspendClientInput,
  type UpdateClientInput,
} from './clients-input.ts';
export { clientSnapshots, createClientReads, toClient, type ClientReads } from './clients-read.ts';
export { createClientsStore, type ClientsStore } from './clients-store.ts';
export type { Client, ClientStatus, ClientsTables, RateLimitSetting } from './clients-types.ts';
