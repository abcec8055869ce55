import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './support/harness.ts';

/**
 * Secrets never reach the logs: every request below carries them in the places clients put
 * them, and the captured log output (everything the app wrote) is scanned for each one.
 */
const SECRETS = {
  bearer: 'kpadm_live_SECRETbearerSECRETbearerSECRETbearerSECRETbea',
  apiKey: 'kp_live_SECRETxapikeySECRETxapikeySECRETxapikeySECRETxa',
  cookie: 'SECRETcookieSECRETcookie',
  credential: 'SECRETcredentialFieldValue',
  nestedCredential: 'SECRETnestedCredentialValue',
  query: 'SECRETqueryValue',
  password: 'SECRETpassword',
};

describe('log redaction', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness('sqlite', { env: { KEYPLANE_LOG_LEVEL: 'trace' } });
  });
  afterAll(async () => h?.close());

  function expectNoSecret(text: string) {
    for (const [name, value] of Object.entries(SECRETS)) {
      expect(text.includes(value), `${name} leaked into the logs`).toBe(false);
    }
  }

  it('requests with secrets in headers, cookies, bodies and queries log none of them', async () => {
    h.logs.lines.length = 0;
    const headers = {
      authorization: `Bearer ${SECRETS.bearer}`,
      'x-api-key': SECRETS.apiKey,
      cookie: `kp_session=${SECRETS.cookie}; other=1`,
      'content-type': 'application/json',
    };
    const body = JSON.stringify({
      name: 'x',
      credentials: { apiKey: SECRETS.credential, deeper: { secret: SECRETS.nestedCredential } },
      password: SECRETS.password,
    });
    const responses = await Promise.all([
      // unknown token → 401
      h.app.inject({ method: 'POST', url: '/admin/v1/admin-tokens', headers, payload: body }),
      // valid token, unknown body fields → accepted or refused, either way logged
      h.app.inject({
        method: 'POST',
        url: '/admin/v1/admin-tokens',
        headers: { ...headers, authorization: h.adminHeaders.authorization },
        payload: body,
      }),
      // invalid JSON carrying a secret
      h.app.inject({
        method: 'POST',
        url: '/admin/v1/admin-tokens',
        headers: { ...headers, authorization: h.adminHeaders.authorization },
        payload: `{"credentials": "${SECRETS.credential}", `,
      }),
      // secret in a query string, on a route and on a 404
      h.app.inject({ method: 'GET', url: `/healthz?token=${SECRETS.query}`, headers }),
      h.app.inject({ method: 'GET', url: `/nope?apiKey=${SECRETS.query}`, headers }),
      h.app.inject({ method: 'GET', url: '/metrics', headers }),
    ]);
    expect(responses.map((r) => r.statusCode)).toEqual([401, 201, 400, 200, 404, 401]);
    for (const r of responses) expectNoSecret(r.body);

    const requestLines = h.logs.lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'request');
    expect(requestLines).toHaveLength(responses.length);
    expectNoSecret(h.logs.text());
  });

  it('redacts credentials, keys and auth headers in anything logged through services.logger', () => {
    h.logs.lines.length = 0;
    const log = h.services.logger;
    log.info({ credentials: { apiKey: SECRETS.credential } }, 'top-level credentials');
    log.info(
      { body: { credentials: SECRETS.credential, meta: { apiKey: SECRETS.nestedCredential } } },
      'nested',
    );
    log.info(
      {
        req: {
          headers: {
            authorization: `Bearer ${SECRETS.bearer}`,
            'x-api-key': SECRETS.apiKey,
            cookie: SECRETS.cookie,
          },
        },
      },
      'request headers',
    );
    log.info({ headers: { authorization: SECRETS.bearer, cookie: SECRETS.cookie } }, 'headers');
    log.warn({ items: [{ token: SECRETS.bearer }, { password: SECRETS.password }] }, 'array');
    log.error(
      { err: Object.assign(new Error('provider refused'), { apiKey: SECRETS.apiKey }) },
      'error',
    );
    log.child({ requestId: 'req_1' }).info({ credentials: SECRETS.credential }, 'child');
    h.app.log.info({ key: SECRETS.apiKey, secret: SECRETS.password }, 'fastify logger');

    expect(h.logs.lines).toHaveLength(8);
    expectNoSecret(h.logs.text());
    // Redacted, not dropped: the line says a value was there.
    const first = JSON.parse(h.logs.lines[0]!);
    expect(first.credentials).toBe('[redacted]');
    const nested = JSON.parse(h.logs.lines[1]!);
    expect(nested.body).toEqual({ credentials: '[redacted]', meta: { apiKey: '[redacted]' } });
  });
});
