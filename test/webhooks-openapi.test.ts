import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventData } from '../src/webhooks/webhooks-events.ts';
import { EVENT_TYPES } from '../src/webhooks/webhooks-types.ts';
import { createHarness, type Harness } from './support/harness.ts';

type Doc = { webhooks: Record<string, { post: Record<string, any> }> }; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The served document's `webhooks`: one entry per event type, from the zod schemas emit uses. */
describe('webhook events in the OpenAPI document', () => {
  let h: Harness;
  let doc: Doc;
  beforeAll(async () => {
    h = await createHarness('sqlite');
    doc = (await h.app.inject({ method: 'GET', url: '/openapi.json' })).json() as Doc;
  });
  afterAll(async () => h?.close());

  it('documents every event type with its payload schema and the signing headers', () => {
    expect(Object.keys(doc.webhooks).sort()).toEqual([...EVENT_TYPES].sort());
    for (const type of EVENT_TYPES) {
      const op = doc.webhooks[type]!.post;
      expect(op.operationId).toMatch(/^[a-z][A-Za-z0-9]+Event$/);
      expect(op.description).toContain('webhook-signature');
      expect(op.parameters.map((p: { name: string }) => p.name)).toEqual([
        'webhook-id',
        'webhook-timestamp',
        'webhook-signature',
      ]);
      const schema = op.requestBody.content['application/json'].schema;
      expect(schema.properties.type.const).toBe(type);
      expect(schema.properties.version.const).toBe(1);
      expect(schema.required).toEqual(['type', 'version', 'timestamp', 'data']);
      expect(schema.properties.data.type).toBe('object');
    }
    const created = doc.webhooks['key.created']!.post.requestBody.content['application/json'];
    const key = created.schema.properties.data.properties.key;
    expect(Object.keys(key.properties)).toContain('start');
    expect(Object.keys(key.properties)).not.toContain('hash');
  });

  it('drops from a payload every field its schema does not name (a secret cannot slip in)', () => {
    const data = eventData('key.created', {
      key: {
        id: 'key_1',
        clientId: 'client_1',
        start: 'kp_live_ab',
        name: null,
        environment: 'live',
        scopes: [],
        expiresAt: null,
        status: 'active',
        hash: 'deadbeef',
      },
      apiKey: 'kp_live_secret',
    });
    expect(JSON.stringify(data)).not.toContain('secret');
    expect(JSON.stringify(data)).not.toContain('deadbeef');
    expect(() => eventData('key.created', { key: { id: 'key_1' } })).toThrow();
  });
});
