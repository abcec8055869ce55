/**
 * `@keyplane/sdk`: a typed client for Keyplane's HTTP API, the key verifier and usage reporter
 * behind the middleware, and (as subpath exports, so no framework is loaded you do not use)
 * middleware for Fastify (`@keyplane/sdk/fastify`), Express (`@keyplane/sdk/express`) and Hono
 * (`@keyplane/sdk/hono`). No server dependencies: Node 20's global fetch only.
 *
 * @example
 *   import { Keyplane } from '@keyplane/sdk';
 *
 *   const kp = new Keyplane({ baseUrl: 'http://127.0.0.1:8080', adminToken: process.env.KEYPLANE_ADMIN_TOKEN });
 *   const { client, apiKey } = await kp.clients.create({ name: 'Acme Corp', email: 'security@acme.com' });
 */
export { Keyplane, type KeyplaneOptions } from './client.ts';
export { KeyplaneError } from './errors.ts';
export { UsageReporter, type UsageReporterOptions } from './reporter.ts';
export {
  KeyVerifier,
  keyFromHeaders,
  rateLimitHeaders,
  type Check,
  type Denial,
  type KeyplaneContext,
  type Verification,
  type VerifierOptions,
} from './verifier.ts';
export type { MiddlewareOptions } from './middleware.ts';
export {
  verifyWebhook,
  WebhookVerificationError,
  WEBHOOK_TOLERANCE_SECONDS,
  type WebhookEvent,
} from './webhooks.ts';
export type * from './types.ts';
