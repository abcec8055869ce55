import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalSignature } from '../src/leaks/leaks-fns.ts';
import { createManualClock } from '../src/lib/clock.ts';
import { checksumOf, generateKey, hashKey } from '../src/lib/key-format.ts';
import { createHarness, type Harness } from './support/harness.ts';
import { githubRequest, partnerKey, signBody } from './support/leaks.ts';
import { startSmtpServer, type TestSmtpServer } from './support/smtp.ts';
import { ENGINES } from './support/stores.ts';

const OPERATOR = 'security@operator.example';
const GITLAB_SECRET = 'gitlab-shared-secret-0123456789';
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** The P-256 order: (r, n - s) is a second valid signature of the same body. */
const N = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');

/** The other valid signature of the same body (no private key needed). */
function malleate(signature: string): string {
  const der = Buffer.from(signature, 'base64');
  const canon = canonicalSignature(der)!;
  const r = BigInt('0x' + canon.subarray(0, 32).toString('hex'));
  const origS = BigInt('0x' + der.subarray(4 + der[3]! + 2).toString('hex'));
  const s = N - origS;
  const int = (n: bigint) => {
    let hex = n.toString(16);
    if (hex.length % 2) hex = '0' + hex;
    const b = Buffer.from(hex, 'hex');
    return b[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b;
  };
  const rb = int(r);
  const sb = int(s);
  const body = Buffer.concat([Buffer.from([2, rb.length]), rb, Buffer.from([2, sb.length]), sb]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]).toString('base64');
}

async function until<T>(check: () => T | undefined | false, ms = 10_000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() - start > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe.each(ENGINES)('leaked keys over HTTP on %s', (engine) => {
  const github = partnerKey('gh-1');
  const stranger = partnerKey('gh-1'); // same identifier, another key: a forger
  let h: Harness;
  let smtp: TestSmtpServer;

  beforeAll(async () => {
    smtp = await startSmtpServer();
    h = await createHarness(engine, {
      env: { KEYPLANE_SMTP_URL: smtp.url, KEYPLANE_MAIL_FROM: 'keyplane@example.com' },
      file: {
        leaks: {
          operatorEmail: OPERATOR,
          maxBodyBytes: 8192,
          github: { publicKeys: [github.config] },
          gitlab: { token: GITLAB_SECRET },
        },
      },
    });
  });
  afterAll(async () => {
    await h?.close();
    await smtp?.close();
  });

  let n = 0;
  async function newClient() {
    const email = `leak${++n}-${engine}@client.example`;
    const res = await h.app.inject({
      method: 'POST',
      url: '/admin/v1/clients',
      headers: h.adminHeaders,
      payload: { name: `Leaky ${n}`, email },
    });
    const body = res.json() as { client: { id: string }; key: { id: string }; apiKey: string };
    return { ...body, email };
  }
  const health = (key: string) =>
    h.app
      .inject({ method: 'GET', url: '/v1/health', headers: { 'x-api-key': key } })
      .then((r) => r.statusCode);
  const setPolicy = (clientId: string, policy: string | null) =>
    h.app.inject({
      method: 'PUT',
      url: `/admin/v1/clients/${clientId}/leak-policy`,
      headers: h.adminHeaders,
      payload: { policy },
    });
  const audit = async (clientId: string, action: string) => {
    const res = await h.app.inject({
      method: 'GET',
      url: `/admin/v1/audit?clientId=${clientId}&action=${action}`,
      headers: h.adminHeaders,
    });
    return (res.json() as { data: Array<{ data: Record<string, unknown> }> }).data;
  };

  it('a signed mixed batch: live revoked at once, the rest answered without acting', async () => {
    const live = await newClient();
    const gone = await newClient();
    await h.app.inject({
      method: 'POST',
      url: `/admin/v1/clients/${gone.client.id}/keys/${gone.key.id}/revoke`,
      headers: h.adminHeaders,
      payload: { reason: 'old' },
    });
    const unknown = generateKey('kp', 'live'); // valid checksum, never issued
    const body = live.apiKey.slice(0, -6);
    const badChecksum = body + (checksumOf(body) === 'AAAAAA' ? 'AAAAAB' : 'AAAAAA');
    const otherPrefix = generateKey('zz', 'live');
    const url = 'https://github.com/acme/app/blob/abc123/config.js#L3';
    expect(await health(live.apiKey)).toBe(200);

    const res = await h.app.inject(
      githubRequest(
        [
          { token: live.apiKey, type: 'keyplane_api_key', url, source: 'content' },
          { token: gone.apiKey, type: 'keyplane_api_key', url, source: 'content' },
          { token: unknown, type: 'keyplane_api_key', url, source: 'content' },
          { token: badChecksum, type: 'keyplane_api_key', url, source: 'content' },
          { token: otherPrefix, type: 'keyplane_api_key', url, source: 'content' },
        ],
        github,
      ),
    );
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual([
      { token_hash: sha256(live.apiKey), token_type: 'keyplane_api_key', label: 'true_positive' },
      { token_hash: sha256(gone.apiKey), token_type: 'keyplane_api_key', label: 'true_positive' },
      { token_hash: sha256(unknown), token_type: 'keyplane_api_key', label: 'false_positive' },
      { token_hash: sha256(badChecksum), token_type: 'keyplane_api_key', label: 'false_positive' },
      { token_hash: sha256(otherPrefix), token_type: 'keyplane_api_key', label: 'false_positive' },
    ]);
    expect(await health(live.apiKey)).toBe(401);
    const key = await h.services.keys.get(live.client.id, live.key.id);
    expect(key.status).toBe('revoked');
    expect(key.revokedReason).toBe(`leaked: ${url}`);
    // The revoked key keeps its own reason: a report changes nothing on it.
    expect((await h.services.keys.get(gone.client.id, gone.key.id)).revokedReason).toBe('old');

    const exposed = await audit(live.client.id, 'key.exposed');
    expect(exposed).toHaveLength(1);
    expect(exposed[0]!.data).toMatchObject({ source: 'github', url, action: 'revoked' });
    expect((await audit(gone.client.id, 'key.exposed'))[0]!.data.action).toBe('already_revoked');

    // Client and operator are told; the key itself is in no email and no log line.
    const mails = await until(() => {
      const m = smtp.received.filter((x) => x.raw.includes(live.key.id));
      return m.length >= 2 && m;
    });
    expect(mails.flatMap((m) => m.to).sort()).toEqual([live.email, OPERATOR].sort());
    for (const m of smtp.received) {
      expect(m.raw).not.toContain(live.apiKey);
      expect(m.raw).not.toContain(gone.apiKey);
    }
    expect(smtp.received.some((m) => m.raw.includes(gone.key.id))).toBe(false);
    expect(h.logs.text()).not.toContain(live.apiKey);
    expect(res.body).not.toContain(live.apiKey);
  });

  it('refuses unsigned, tampered, wrongly signed, unknown-key and replayed bodies', async () => {
    const c = await newClient();
    const signed = githubRequest([{ token: c.apiKey, type: 't', url: 'u' }], github);
    const send = (headers: Record<string, string>, payload = signed.payload) =>
      h.app.inject({
        ...signed,
        payload,
        headers: { 'content-type': 'application/json', ...headers },
      });
    const id = signed.headers['github-public-key-identifier'];
    const sig = signed.headers['github-public-key-signature'];

    expect((await send({})).statusCode).toBe(401);
    expect((await send({ 'github-public-key-identifier': id })).statusCode).toBe(401);
    const tampered = signed.payload.replace('"u"', '"v"');
    expect(
      (
        await send(
          { 'github-public-key-identifier': id, 'github-public-key-signature': sig },
          tampered,
        )
      ).statusCode,
    ).toBe(401);
    const forged = signBody(signed.payload, stranger.privateKey);
    expect(
      (await send({ 'github-public-key-identifier': id, 'github-public-key-signature': forged }))
        .statusCode,
    ).toBe(401);
    expect(
      (
        await send({
          'github-public-key-identifier': 'gh-unknown',
          'github-public-key-signature': sig,
        })
      ).statusCode,
    ).toBe(401);
    expect(
      (
        await send({
          'github-public-key-identifier': id,
          'github-public-key-signature': 'not base64!',
        })
      ).statusCode,
    ).toBe(401);
    expect(await health(c.apiKey)).toBe(200); // nothing above acted

    const ok = await h.app.inject(signed);
    expect(ok.statusCode).toBe(200);
    const replay = await h.app.inject(signed);
    expect(replay.statusCode).toBe(409);
    expect(replay.json().error.code).toBe('conflict');
    // The second valid signature of the same body (s → n − s) is the same replay.
    const flipped = await send({
      'github-public-key-identifier': id,
      'github-public-key-signature': malleate(sig),
    });
    expect(flipped.statusCode).toBe(409);
  });

  it('answers 413 above the configured bound, before verifying anything', async () => {
    const big = githubRequest(
      Array.from({ length: 100 }, () => ({
        token: generateKey('kp', 'live'),
        url: 'x'.repeat(80),
      })),
      github,
    );
    expect(big.payload.length).toBeGreaterThan(8192);
    const res = await h.app.inject(big);
    expect(res.statusCode).toBe(413);
    expect(res.json().error.message).toContain('8192');
  });

  it('is idempotent: the same token reported twice acts once', async () => {
    const c = await newClient();
    await setPolicy(c.client.id, 'notify');
    const first = await h.app.inject(githubRequest([{ token: c.apiKey, url: 'one' }], github));
    const second = await h.app.inject(
      githubRequest(
        [
          { token: c.apiKey, url: 'two' },
          { token: c.apiKey, url: 'three' },
        ],
        github,
      ),
    );
    expect(first.statusCode).toBe(200);
    expect(second.statusCode).toBe(200);
    expect(second.json().map((o: { label: string }) => o.label)).toEqual([
      'true_positive',
      'true_positive',
    ]);
    const actions = (await audit(c.client.id, 'key.exposed')).map((e) => e.data.action).sort();
    expect(actions).toEqual(['duplicate', 'notified']);
    await until(() => smtp.received.filter((m) => m.raw.includes(c.key.id)).length >= 2);
    expect(smtp.received.filter((m) => m.raw.includes(c.key.id))).toHaveLength(2);
  });

  it('policy notify keeps the key working and flags it in the reports list', async () => {
    const c = await newClient();
    expect((await setPolicy(c.client.id, 'notify')).json()).toEqual({
      clientId: c.client.id,
      policy: 'notify',
      default: false,
    });
    await h.app.inject(githubRequest([{ token: c.apiKey, url: 'gist' }], github));
    expect(await health(c.apiKey)).toBe(200);
    const list = await h.app.inject({
      method: 'GET',
      url: `/admin/v1/leaks?clientId=${c.client.id}`,
      headers: h.adminHeaders,
    });
    expect(list.json().data).toMatchObject([
      { keyId: c.key.id, action: 'notified', source: 'github', url: 'gist' },
    ]);
    const mail = await until(() => smtp.to(c.email).find((m) => m.raw.includes(c.key.id)));
    expect(mail.raw).toContain('still works');
  });

  it('policy roll: the old key dies at once, the new one is shown once in the portal', async () => {
    const c = await newClient();
    await setPolicy(c.client.id, 'roll');
    // A second key with keys:write signs in to the portal (the leaked one is dead).
    const other = await h.app.inject({
      method: 'POST',
      url: `/admin/v1/clients/${c.client.id}/keys`,
      headers: h.adminHeaders,
      payload: { name: 'portal', scopes: ['*'] },
    });
    const portalKey = other.json().apiKey as string;
    const res = await h.app.inject(githubRequest([{ token: c.apiKey, url: 'paste' }], github));
    expect(res.json()[0].label).toBe('true_positive');
    expect(await health(c.apiKey)).toBe(401);

    const reveal = () =>
      h.app.inject({
        method: 'POST',
        url: '/v1/leaks/rolled-keys/reveal',
        headers: { 'x-api-key': portalKey },
      });
    const shown = await reveal();
    expect(shown.statusCode).toBe(200);
    const [item] = shown.json().data as Array<{
      apiKey: string;
      key: { id: string };
      replacedKeyId: string;
    }>;
    expect(item!.replacedKeyId).toBe(c.key.id);
    expect(await health(item!.apiKey)).toBe(200);
    expect((await reveal()).json().data).toEqual([]); // once
    // Sealed at rest: the new key's plaintext is nowhere in the database.
    const [report] = (
      await h.app.inject({
        method: 'GET',
        url: `/admin/v1/leaks?clientId=${c.client.id}`,
        headers: h.adminHeaders,
      })
    ).json().data;
    expect(report).toMatchObject({ action: 'rolled', newKeyId: item!.key.id });
    expect(h.logs.text()).not.toContain(item!.apiKey);
  });

  it('roll: a key without keys:write cannot take the replacement', async () => {
    const c = await newClient();
    await setPolicy(c.client.id, 'roll');
    const weak = await h.app.inject({
      method: 'POST',
      url: `/admin/v1/clients/${c.client.id}/keys`,
      headers: h.adminHeaders,
      payload: { name: 'read only', scopes: ['usage:read'] },
    });
    await h.app.inject(githubRequest([{ token: c.apiKey, url: 'x' }], github));
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/leaks/rolled-keys/reveal',
      headers: { 'x-api-key': weak.json().apiKey },
    });
    expect(res.statusCode).toBe(403);
    expect(await h.services.leaks.pendingRolledKeys(c.client.id)).toBe(1);
  });

  it('GitLab token revocation API: types, revoke with the shared secret, 204', async () => {
    const c = await newClient();
    const types = await h.app.inject({
      method: 'GET',
      url: '/v1/leaks/gitlab/v1/revocable_token_types',
      headers: { authorization: GITLAB_SECRET },
    });
    expect(types.json()).toEqual({ types: ['gitleaks_rule_id_keyplane_api_key'] });
    const revoke = (authorization: string, body: unknown) =>
      h.app.inject({
        method: 'POST',
        url: '/v1/leaks/gitlab/v1/revoke_tokens',
        headers: { authorization, 'content-type': 'application/json' },
        payload: JSON.stringify(body),
      });
    const item = {
      type: 'gitleaks_rule_id_keyplane_api_key',
      token: c.apiKey,
      location: 'https://gitlab.example/acme/app/-/blob/main/.env#L1',
    };
    expect((await revoke('wrong-secret-but-long-enough', [item])).statusCode).toBe(401);
    expect((await revoke(GITLAB_SECRET, [{ ...item, type: 'aws_key' }])).statusCode).toBe(400);
    expect((await revoke(GITLAB_SECRET, { token: c.apiKey })).statusCode).toBe(400);
    expect(await health(c.apiKey)).toBe(200);
    const ok = await revoke(`Bearer ${GITLAB_SECRET}`, [item]);
    expect(ok.statusCode).toBe(204);
    expect(await health(c.apiKey)).toBe(401);
    expect((await h.services.keys.get(c.client.id, c.key.id)).revokedReason).toBe(
      `leaked: ${item.location}`,
    );
  });

  it('operator endpoint and the policy routes', async () => {
    const c = await newClient();
    expect(
      (
        await h.app.inject({
          method: 'POST',
          url: '/admin/v1/leaks',
          payload: { tokens: [{ token: c.apiKey }] },
        })
      ).statusCode,
    ).toBe(401);
    const policy = await h.app.inject({
      method: 'GET',
      url: `/admin/v1/clients/${c.client.id}/leak-policy`,
      headers: h.adminHeaders,
    });
    expect(policy.json()).toEqual({ clientId: c.client.id, policy: 'revoke', default: true });
    const missing = await h.app.inject({
      method: 'GET',
      url: '/admin/v1/clients/client_000000000000000000000000/leak-policy',
      headers: h.adminHeaders,
    });
    expect(missing.statusCode).toBe(404);
    expect((await setPolicy(c.client.id, 'bogus')).statusCode).toBe(400);
    await setPolicy(c.client.id, 'notify');
    expect((await setPolicy(c.client.id, null)).json().default).toBe(true);

    const res = await h.app.inject({
      method: 'POST',
      url: '/admin/v1/leaks',
      headers: h.adminHeaders,
      payload: { tokens: [{ token: c.apiKey, url: 'pastebin' }, { token: 'kp_live_nope' }] },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().data).toMatchObject([
      { label: 'true_positive', action: 'revoked', keyId: c.key.id, clientId: c.client.id },
      { label: 'false_positive', action: null, keyId: null },
    ]);
    expect(await health(c.apiKey)).toBe(401);
  });

  it('keys.lookupByHash finds a key by its at-rest hash, and nothing for anything else', async () => {
    const c = await newClient();
    expect((await h.services.keys.lookupByHash(hashKey(c.apiKey)))?.id).toBe(c.key.id);
    expect(await h.services.keys.lookupByHash(hashKey(generateKey('kp', 'live')))).toBeNull();
    expect(await h.services.keys.lookupByHash('not-a-hash')).toBeNull();
  });
});

describe.each(ENGINES)('leak report timing and races on %s', (engine) => {
  const github = partnerKey('gh-clock');
  const clock = createManualClock(new Date());
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness(engine, {
      clock,
      file: { leaks: { replayWindowSeconds: 3600, github: { publicKeys: [github.config] } } },
    });
  });
  afterAll(async () => h?.close());

  it('a replayed signature is refused within the window and accepted after it', async () => {
    const req = githubRequest([{ token: generateKey('kp', 'live'), url: 'w' }], github);
    expect((await h.app.inject(req)).statusCode).toBe(200);
    clock.advance(3599_000);
    expect((await h.app.inject(req)).statusCode).toBe(409);
    clock.advance(2_000);
    expect((await h.app.inject(req)).statusCode).toBe(200);
    expect((await h.app.inject(req)).statusCode).toBe(409);
  });

  it('the same token in concurrent reports acts once', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/admin/v1/clients',
      headers: h.adminHeaders,
      payload: { name: 'Race', email: 'race@example.com' },
    });
    const c = res.json() as { client: { id: string }; key: { id: string }; apiKey: string };
    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        h.services.leaks.report([{ token: c.apiKey, url: `r${i}` }], {
          source: 'operator',
          actor: { type: 'system', id: 'test' },
        }),
      ),
    );
    const actions = answers.map((a) => a[0]!.action).sort();
    expect(actions).toEqual([
      'duplicate',
      'duplicate',
      'duplicate',
      'duplicate',
      'duplicate',
      'revoked',
    ]);
    const revoked = await h.services.audit.list({ clientId: c.client.id, action: 'key.revoked' });
    expect(revoked.data).toHaveLength(1);
  });
});
