import type { AuditService } from '../audit/index.ts';
import type { Keyring } from '../infra/master-key.ts';
import type { Clock } from '../lib/clock.ts';
import type { WebhooksStore } from './webhooks-store.ts';

export interface WebhooksServiceDeps {
  webhooksStore: WebhooksStore;
  keyring: Keyring;
  clock: Clock;
  audit: AuditService;
  /** Development mode: http and private addresses allowed. */
  allowPrivate: boolean;
  /** Told after each emit (the dispatcher's wake), so a new message goes out at once. */
  onEmit?: () => void;
}

/** What the parts of the webhooks service share: today, exactly its deps. */
export type WebhooksContext = WebhooksServiceDeps;
