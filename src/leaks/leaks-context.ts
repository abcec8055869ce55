import type { AuditService } from '../audit/index.ts';
import type { ClientsService } from '../clients/index.ts';
import type { LeaksConfig } from '../config.ts';
import type { Logger } from '../infra/logger.ts';
import type { Mailer } from '../infra/mailer.ts';
import type { Keyring } from '../infra/master-key.ts';
import type { KeysService } from '../keys/index.ts';
import type { Clock } from '../lib/clock.ts';
import type { EmitEvent } from '../webhooks/index.ts';
import type { GithubKeySource } from './github-keys.ts';
import type { LeaksStore } from './leaks-store.ts';

export interface LeaksServiceDeps {
  leaksStore: LeaksStore;
  keys: KeysService;
  clients: ClientsService;
  audit: AuditService;
  mailer: Mailer;
  keyring: Keyring;
  githubKeys: GithubKeySource;
  /** The webhooks outbox: `key.exposed`, written with the report's outcome. */
  emit?: EmitEvent;
  clock: Clock;
  logger: Logger;
  settings: Omit<LeaksConfig, 'operatorEmail'> & {
    keyPrefix: string;
    operatorEmail: string | null;
  };
}

/** What the parts of the leaks service share: its deps and the exposure emails in flight. */
export interface LeaksContext extends LeaksServiceDeps {
  /** Emails in flight: a report answers without waiting for SMTP; `close` waits for them. */
  mails: Set<Promise<void>>;
}
