/**
 * Ways into the generated API types (`./generated/openapi.ts`, from the served OpenAPI
 * document by `npm run gen:api`): a component schema by name, an operation's JSON answer, body
 * or query. `types.ts` (the SDK) and `dashboard/src/api.ts` name their types with these, so
 * neither can drift from the server.
 */
import type { components, operations } from './generated/openapi.ts';

export type Schemas = components['schemas'];
type Operations = operations;
type JsonOf<R> = R extends { content: { 'application/json': infer T } } ? T : never;

/** The JSON body of an operation's answer with status `S` (200 unless said). */
export type Answer<Op extends keyof Operations, S extends number = 200> =
  Operations[Op]['responses'] extends Record<S, infer R> ? JsonOf<R> : never;

/** The JSON body an operation takes. */
export type Body<Op extends keyof Operations> = JsonOf<NonNullable<Operations[Op]['requestBody']>>;

/** The query parameters an operation takes. */
export type QueryOf<Op extends keyof Operations> = NonNullable<
  Operations[Op]['parameters']['query']
>;
