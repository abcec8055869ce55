import { useState } from 'react';
import { WebhookEndpointsPanel, type WebhooksBase } from './webhook-endpoints-panel.tsx';
import { WebhookMessagesPanel } from './webhook-messages-panel.tsx';

/**
 * Webhooks: the endpoints and the message log, for the operator (every client's events) or for
 * a signed-in client (its own events, to its own endpoints).
 */
export function WebhooksPage({
  base,
  canWrite,
  intro,
}: {
  base: WebhooksBase;
  canWrite: boolean;
  intro: string;
}) {
  const [generation, setGeneration] = useState(0);
  return (
    <div>
      <div className="page-head">
        <h1>Webhooks</h1>
      </div>
      <p className="muted">{intro}</p>
      <WebhookEndpointsPanel
        base={base}
        canWrite={canWrite}
        onChanged={() => setGeneration((g) => g + 1)}
      />
      <WebhookMessagesPanel base={base} canWrite={canWrite} generation={generation} />
    </div>
  );
}
