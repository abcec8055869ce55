import { createPrivateKey } from 'node:crypto';
import { z } from 'zod';
import { signV4, toAmzDate } from './aws-sigv4.ts';
import { serviceAccountAssertion } from './gcp-jwt.ts';
import { form, joinUrl, probe, requireAccessToken } from './provider-http.ts';
import type { ProviderSpec } from './provider-types.ts';

/** Cloud providers of seed 03: what a cost collector needs to read a customer's account. */

const required = (what: string) =>
  z
    .string({ message: `${what} is required (a string)` })
    .trim()
    .min(1, `${what} must not be empty`)
    .max(16 * 1024, `${what} is too long`);

const uuid = (what: string) =>
  z
    .string({ message: `${what} is required (a string)` })
    .trim()
    .regex(/^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$/, `${what} must be a GUID`);

export const vultr: ProviderSpec = {
  name: 'vultr',
  defaultType: 'api_key',
  schema: z.object({ apiKey: required('apiKey') }).strict(),
  defaultBaseUrl: 'https://api.vultr.com',
  env: { apiKey: ['VULTR_API_KEY'] },
  // The account endpoint answers any valid key, whatever its ACL.
  verify: (f, ctx) =>
    probe(ctx, 'vultr', {
      method: 'GET',
      path: '/v2/account',
      headers: { authorization: `Bearer ${f.apiKey}`, accept: 'application/json' },
    }),
};

export const aws: ProviderSpec = {
  name: 'aws',
  defaultType: 'access_key',
  schema: z
    .object({
      accessKeyId: z
        .string({ message: 'accessKeyId is required (a string)' })
        .trim()
        .regex(
          /^[A-Z0-9]{16,128}$/,
          'accessKeyId must be 16-128 uppercase letters or digits (AKIA…)',
        ),
      secretAccessKey: required('secretAccessKey').pipe(
        z.string().min(16, 'secretAccessKey is too short'),
      ),
      region: z
        .string()
        .trim()
        .regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'region must look like eu-west-1')
        .optional(),
      sessionToken: required('sessionToken').optional(),
    })
    .strict(),
  defaultBaseUrl: 'https://sts.amazonaws.com',
  env: {
    accessKeyId: ['AWS_ACCESS_KEY_ID'],
    secretAccessKey: ['AWS_SECRET_ACCESS_KEY'],
    region: ['AWS_REGION', 'AWS_DEFAULT_REGION'],
    sessionToken: ['AWS_SESSION_TOKEN'],
  },
  // STS GetCallerIdentity needs no permission at all: any valid key pair may call it.
  verify: (f, ctx) => {
    const isDefault = ctx.baseUrl === 'https://sts.amazonaws.com';
    const region = f.region ?? 'us-east-1';
    const base = isDefault && f.region ? `https://sts.${f.region}.amazonaws.com` : ctx.baseUrl;
    const url = joinUrl(base, '/');
    const body = form({ Action: 'GetCallerIdentity', Version: '2011-06-15' });
    const amzDate = toAmzDate(ctx.now);
    const signed: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
      host: url.host,
      'x-amz-date': amzDate,
      ...(f.sessionToken && { 'x-amz-security-token': f.sessionToken }),
    };
    const authorization = signV4({
      method: 'POST',
      url,
      headers: signed,
      body,
      region,
      service: 'sts',
      accessKeyId: f.accessKeyId!,
      secretAccessKey: f.secretAccessKey!,
      amzDate,
    });
    // fetch sets Host from the URL itself; it is the value signed above.
    const { host: _host, ...headers } = signed;
    return probe(
      { ...ctx, baseUrl: base },
      'aws',
      {
        method: 'POST',
        path: '/',
        headers: { ...headers, authorization },
        body,
        accept: (text) =>
          text.includes('GetCallerIdentityResult') ? null : 'unexpected STS answer',
      },
      url,
    );
  },
};

const serviceAccount = z
  .object({
    type: z.literal('service_account', 'type must be "service_account"').optional(),
    client_email: z
      .string({ message: 'client_email is required' })
      .regex(/^[^@\s]+@[^@\s]+$/, 'client_email must be an email address'),
    private_key: z.string({ message: 'private_key is required' }).refine((pem) => {
      try {
        return createPrivateKey(pem).asymmetricKeyType === 'rsa';
      } catch {
        return false;
      }
    }, 'private_key must be an RSA private key in PEM form'),
    private_key_id: z.string().optional(),
  })
  .loose();

export const gcp: ProviderSpec = {
  name: 'gcp',
  defaultType: 'service_account',
  schema: z
    .object({
      serviceAccountJson: z
        .union(
          [
            z.string().max(64 * 1024, 'serviceAccountJson is too long'),
            z.record(z.string(), z.unknown()),
          ],
          { message: 'serviceAccountJson is required (the key file, as JSON text or object)' },
        )
        .transform((value, ctx) => {
          if (typeof value !== 'string') return value;
          try {
            return JSON.parse(value) as unknown;
          } catch {
            ctx.addIssue({ code: 'custom', message: 'serviceAccountJson must be valid JSON' });
            return z.NEVER;
          }
        })
        .pipe(serviceAccount)
        .transform((sa) => JSON.stringify(sa)),
    })
    .strict(),
  defaultBaseUrl: 'https://oauth2.googleapis.com',
  env: { serviceAccountJson: ['GCP_SERVICE_ACCOUNT_JSON'] },
  // Exchanging a signed assertion for an access token proves the key is live; the key file's
  // own token_uri is ignored so that a stored credential cannot point this server elsewhere.
  verify: (f, ctx) => {
    const sa = JSON.parse(f.serviceAccountJson!) as {
      client_email: string;
      private_key: string;
      private_key_id?: string;
    };
    const url = joinUrl(ctx.baseUrl, '/token');
    let assertion: string;
    try {
      assertion = serviceAccountAssertion({
        clientEmail: sa.client_email,
        privateKey: sa.private_key,
        privateKeyId: sa.private_key_id,
        audience: url.toString(),
        scope: 'https://www.googleapis.com/auth/cloud-platform.read-only',
        now: ctx.now,
      });
    } catch {
      return Promise.resolve({
        ok: false,
        transient: false,
        reason: 'gcp: private_key cannot sign',
      });
    }
    return probe(ctx, 'gcp', {
      method: 'POST',
      path: '/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }),
      accept: requireAccessToken,
    });
  },
};

export const azure: ProviderSpec = {
  name: 'azure',
  defaultType: 'oauth_client',
  schema: z
    .object({
      tenantId: z
        .string({ message: 'tenantId is required (a string)' })
        .trim()
        .regex(
          /^([0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+)$/,
          'tenantId must be a GUID or a domain',
        ),
      clientId: uuid('clientId'),
      clientSecret: required('clientSecret'),
      subscriptionId: uuid('subscriptionId').optional(),
    })
    .strict(),
  defaultBaseUrl: 'https://login.microsoftonline.com',
  env: {
    tenantId: ['AZURE_TENANT_ID'],
    clientId: ['AZURE_CLIENT_ID'],
    clientSecret: ['AZURE_CLIENT_SECRET'],
    subscriptionId: ['AZURE_SUBSCRIPTION_ID'],
  },
  // The client-credentials grant against the tenant: a token means the app secret is live.
  verify: (f, ctx) =>
    probe(ctx, 'azure', {
      method: 'POST',
      path: `/${encodeURIComponent(f.tenantId!)}/oauth2/v2.0/token`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form({
        client_id: f.clientId!,
        client_secret: f.clientSecret!,
        scope: 'https://management.azure.com/.default',
        grant_type: 'client_credentials',
      }),
      accept: requireAccessToken,
    }),
};
