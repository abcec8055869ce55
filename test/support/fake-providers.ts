import {
  createHash,
  createHmac,
  timingSafeEqual,
  verify as verifySignature,
  type KeyObject,
} from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Real HTTP servers on loopback that imitate each provider's verification endpoint, checking
 * credentials the way the provider does: Vultr's bearer account call, AWS STS with a SigV4
 * signature recomputed here independently, Google's token endpoint verifying an RS256 JWT,
 * Azure's client-credentials grant, and the AI providers' model lists. Each provider lives
 * under its own path prefix: `${fake.baseUrl('vultr')}/v2/account`.
 *
 * Modes per provider: `ok` (check credentials), `status` (always answer one status),
 * `failFirst` (answer a status for the first n requests, then check), `slow` (answer after
 * a delay).
 */
export type FakeMode =
  | { kind: 'ok' }
  | { kind: 'status'; status: number }
  | { kind: 'failFirst'; count: number; status: number }
  | { kind: 'slow'; delayMs: number };

const API_KEY_PROVIDERS = ['vultr', 'gemini', 'openai', 'anthropic', 'exa'] as const;
type ApiKeyProvider = (typeof API_KEY_PROVIDERS)[number];

export interface FakeProviders {
  url: string;
  baseUrl(provider: string): string;
  /** config.providers entries pointing every provider here, with test-friendly timings. */
  providersConfig(
    extra?: Record<string, Record<string, unknown>>,
  ): Record<string, Record<string, unknown>>;
  acceptApiKey(provider: ApiKeyProvider, key: string): void;
  acceptAws(accessKeyId: string, secretAccessKey: string): void;
  acceptGcp(clientEmail: string, publicKey: KeyObject): void;
  acceptAzure(tenantId: string, clientId: string, clientSecret: string): void;
  setMode(provider: string, mode: FakeMode): void;
  hits(provider: string): number;
  /** Why the fake last refused a request of this provider (to debug a failing test). */
  lastRefusal(provider: string): string | null;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown, type = 'application/json') {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

// ---- an independent SigV4 verifier (not the implementation under test) ----

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
const hmac = (k: Buffer | string, s: string) => createHmac('sha256', k).update(s, 'utf8').digest();

function checkSigV4(
  req: IncomingMessage,
  body: string,
  secrets: Map<string, string>,
): string | null {
  const auth = req.headers.authorization ?? '';
  const m =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([a-z0-9-]+)\/([a-z0-9]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(
      auth,
    );
  if (!m) return 'malformed Authorization header';
  const [, akid, date, region, service, signedHeaders, signature] = m as unknown as string[];
  if (service !== 'sts') return `credential scope names service ${service}, not sts`;
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  if (!/^\d{8}T\d{6}Z$/.test(amzDate) || amzDate.slice(0, 8) !== date) return 'bad x-amz-date';
  const names = signedHeaders!.split(';');
  if (!names.includes('host') || !names.includes('x-amz-date'))
    return 'host and x-amz-date must be signed';
  const secret = secrets.get(akid!);
  if (!secret) return 'InvalidClientTokenId';
  const url = new URL(req.url ?? '/', 'http://x');
  const canonicalQuery = [...url.searchParams.entries()]
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .sort()
    .join('&');
  const canonicalHeaders = names
    .map(
      (n) =>
        `${n}:${String(req.headers[n] ?? '')
          .trim()
          .replace(/\s+/g, ' ')}\n`,
    )
    .join('');
  // The whole path as received (the fake's /aws prefix included) is what the client signed.
  const canonical = [
    req.method,
    url.pathname,
    canonicalQuery,
    canonicalHeaders,
    signedHeaders,
    sha256(body),
  ].join('\n');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date!), region!), service!), 'aws4_request');
  const expected = createHmac('sha256', key).update(toSign).digest('hex');
  return safeEqual(expected, signature!) ? null : 'SignatureDoesNotMatch';
}

function checkJwt(
  assertion: string,
  audience: string,
  keys: Map<string, KeyObject>,
): string | null {
  const parts = assertion.split('.');
  if (parts.length !== 3) return 'not a JWT';
  const [h, c, s] = parts as [string, string, string];
  let header: { alg?: string };
  let claims: { iss?: string; aud?: string; exp?: number; iat?: number; scope?: string };
  try {
    header = JSON.parse(Buffer.from(h, 'base64url').toString());
    claims = JSON.parse(Buffer.from(c, 'base64url').toString());
  } catch {
    return 'JWT parts are not JSON';
  }
  if (header.alg !== 'RS256') return 'alg must be RS256';
  const key = claims.iss ? keys.get(claims.iss) : undefined;
  if (!key) return 'unknown service account';
  if (!verifySignature('sha256', Buffer.from(`${h}.${c}`), key, Buffer.from(s, 'base64url'))) {
    return 'invalid JWT signature';
  }
  if (claims.aud !== audience) return `aud must be ${audience}`;
  if (!claims.scope) return 'scope missing';
  if (
    typeof claims.exp !== 'number' ||
    typeof claims.iat !== 'number' ||
    claims.exp <= claims.iat
  ) {
    return 'bad exp/iat';
  }
  return null;
}

export async function startFakeProviders(): Promise<FakeProviders> {
  const apiKeys = new Map<string, Set<string>>(API_KEY_PROVIDERS.map((p) => [p, new Set()]));
  const awsSecrets = new Map<string, string>();
  const gcpKeys = new Map<string, KeyObject>();
  const azureApps = new Map<string, string>(); // `${tenant}\n${clientId}` → secret
  const modes = new Map<string, FakeMode>();
  const hitCount = new Map<string, number>();
  const refusals = new Map<string, string>();
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let base = '';

  async function handle(provider: string, rest: string, req: IncomingMessage, res: ServerResponse) {
    const body = await readBody(req);
    const refuse = (status: number, why: string, payload: unknown) => {
      refusals.set(provider, why);
      send(res, status, payload);
    };
    const path = rest.split('?')[0];
    switch (provider) {
      case 'vultr': {
        if (req.method !== 'GET' || path !== '/v2/account')
          return send(res, 404, { error: 'not found' });
        const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
        if (!m || !apiKeys.get('vultr')!.has(m[1]!)) {
          return refuse(401, 'bad bearer', { error: 'Invalid API token.', status: 401 });
        }
        return send(res, 200, { account: { name: 'Fake Account', balance: -12.5, acls: [] } });
      }
      case 'aws': {
        if (req.method !== 'POST' || path !== '/') return send(res, 404, 'not found', 'text/plain');
        const params = new URLSearchParams(body);
        if (params.get('Action') !== 'GetCallerIdentity') return refuse(400, 'action', '<Error/>');
        const problem = checkSigV4(req, body, awsSecrets);
        if (problem) {
          return refuse(
            403,
            problem,
            `<ErrorResponse><Error><Type>Sender</Type><Code>${problem}</Code></Error></ErrorResponse>`,
          );
        }
        return send(
          res,
          200,
          '<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/collector</Arn><UserId>AIDAFAKE</UserId><Account>123456789012</Account></GetCallerIdentityResult></GetCallerIdentityResponse>',
          'text/xml',
        );
      }
      case 'gcp': {
        if (req.method !== 'POST' || path !== '/token')
          return send(res, 404, { error: 'not found' });
        const params = new URLSearchParams(body);
        if (params.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
          return refuse(400, 'grant_type', { error: 'unsupported_grant_type' });
        }
        const problem = checkJwt(params.get('assertion') ?? '', `${base}/gcp/token`, gcpKeys);
        if (problem)
          return refuse(400, problem, { error: 'invalid_grant', error_description: problem });
        return send(res, 200, {
          access_token: 'ya29.fake',
          expires_in: 3599,
          token_type: 'Bearer',
        });
      }
      case 'azure': {
        const m = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(path ?? '');
        if (req.method !== 'POST' || !m) return send(res, 404, { error: 'not found' });
        const tenant = decodeURIComponent(m[1]!);
        const params = new URLSearchParams(body);
        if (params.get('grant_type') !== 'client_credentials' || !params.get('scope')) {
          return refuse(400, 'grant', { error: 'invalid_request' });
        }
        if (![...azureApps.keys()].some((k) => k.startsWith(`${tenant}\n`))) {
          return refuse(400, 'tenant', {
            error: 'invalid_request',
            error_description: 'AADSTS90002',
          });
        }
        const secret = azureApps.get(`${tenant}\n${params.get('client_id')}`);
        if (!secret || !safeEqual(secret, params.get('client_secret') ?? '')) {
          return refuse(401, 'client', {
            error: 'invalid_client',
            error_description: 'AADSTS7000215',
          });
        }
        return send(res, 200, { token_type: 'Bearer', expires_in: 3599, access_token: 'eyFake' });
      }
      case 'gemini': {
        if (req.method !== 'GET' || path !== '/v1beta/models') return send(res, 404, {});
        const key = String(req.headers['x-goog-api-key'] ?? '');
        if (!apiKeys.get('gemini')!.has(key)) {
          // Gemini answers a bad key with 400 INVALID_ARGUMENT.
          return refuse(400, 'key', {
            error: {
              code: 400,
              message: 'API key not valid. Please pass a valid API key.',
              status: 'INVALID_ARGUMENT',
            },
          });
        }
        return send(res, 200, { models: [{ name: 'models/gemini-2.0-flash' }] });
      }
      case 'openai': {
        if (req.method !== 'GET' || path !== '/v1/models') return send(res, 404, {});
        const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
        if (!m || !apiKeys.get('openai')!.has(m[1]!)) {
          // Like the real one, the refusal echoes the key it got: it must never reach our logs.
          return refuse(401, 'key', {
            error: {
              message: `Incorrect API key provided: ${m?.[1] ?? ''}`,
              code: 'invalid_api_key',
            },
          });
        }
        return send(res, 200, { object: 'list', data: [{ id: 'gpt-4o', object: 'model' }] });
      }
      case 'anthropic': {
        if (req.method !== 'GET' || path !== '/v1/models') return send(res, 404, {});
        if (!req.headers['anthropic-version']) return refuse(400, 'version', { type: 'error' });
        if (!apiKeys.get('anthropic')!.has(String(req.headers['x-api-key'] ?? ''))) {
          return refuse(401, 'key', {
            type: 'error',
            error: { type: 'authentication_error', message: 'invalid x-api-key' },
          });
        }
        return send(res, 200, {
          data: [{ id: 'claude-sonnet-4', type: 'model' }],
          has_more: false,
        });
      }
      case 'exa': {
        if (req.method !== 'GET' || path !== '/websets/v0/websets') return send(res, 404, {});
        if (!apiKeys.get('exa')!.has(String(req.headers['x-api-key'] ?? ''))) {
          return refuse(401, 'key', { error: 'Invalid API key' });
        }
        return send(res, 200, { data: [], hasMore: false, nextCursor: null });
      }
      default:
        return send(res, 404, { error: `no fake for ${provider}` });
    }
  }

  const server = createServer((req, res) => {
    const m = /^\/([a-z0-9]+)(\/.*)?$/.exec(req.url ?? '');
    const provider = m?.[1] ?? '';
    const rest = m?.[2] ?? '/';
    hitCount.set(provider, (hitCount.get(provider) ?? 0) + 1);
    const mode = modes.get(provider) ?? { kind: 'ok' };
    const run = () =>
      handle(provider, rest, req, res).catch(() => {
        if (!res.headersSent) send(res, 500, { error: 'fake crashed' });
      });
    if (mode.kind === 'status') {
      return void readBody(req).then(() =>
        send(res, mode.status, { error: `fake ${mode.status}` }),
      );
    }
    if (mode.kind === 'failFirst' && mode.count > 0) {
      mode.count--;
      return void readBody(req).then(() =>
        send(res, mode.status, { error: `fake ${mode.status}` }),
      );
    }
    if (mode.kind === 'slow') {
      const t = setTimeout(() => {
        timers.delete(t);
        void run();
      }, mode.delayMs);
      timers.add(t);
      return;
    }
    void run();
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;

  return {
    url: base,
    baseUrl: (p) => `${base}/${p}`,
    providersConfig: (extra = {}) => {
      const out: Record<string, Record<string, unknown>> = {};
      for (const p of ['vultr', 'aws', 'gcp', 'azure', 'gemini', 'openai', 'anthropic', 'exa']) {
        out[p] = {
          baseUrl: `${base}/${p}`,
          timeoutMs: 2000,
          maxRetries: 2,
          retryBackoffMs: 5,
          ...extra[p],
        };
      }
      for (const [p, v] of Object.entries(extra)) out[p] ??= v;
      return out;
    },
    acceptApiKey: (p, key) => void apiKeys.get(p)!.add(key),
    acceptAws: (id, secret) => void awsSecrets.set(id, secret),
    acceptGcp: (email, key) => void gcpKeys.set(email, key),
    acceptAzure: (tenant, clientId, secret) => void azureApps.set(`${tenant}\n${clientId}`, secret),
    setMode: (p, mode) => void modes.set(p, { ...mode }),
    hits: (p) => hitCount.get(p) ?? 0,
    lastRefusal: (p) => refusals.get(p) ?? null,
    close: async () => {
      for (const t of timers) clearTimeout(t);
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
