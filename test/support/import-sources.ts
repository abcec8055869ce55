import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';
import pg from 'pg';
import { BASE62 } from '../../src/lib/key-format.ts';

export const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** A key as Vigint's manage_clients.py prints it (seed 01): 64 characters of [0-9A-Za-z]. */
export function vigintKey(): string {
  return [...randomBytes(64)].map((b) => BASE62[b % 62]).join('');
}

/**
 * Seed 01/02's tables, from their own descriptions: clients (id, name, email), api_keys (id,
 * client_id, key_hash = sha256(key), is_active), api_usage (id, api_key_id, endpoint, cost,
 * timestamp) and payment_details (payment methods and frequency, seed 01 "Integration with
 * Billing").
 */
export const VIGINT_SCHEMA = `
CREATE TABLE clients (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE api_keys (id INTEGER PRIMARY KEY, client_id INTEGER REFERENCES clients(id), key_hash TEXT NOT NULL, is_active BOOLEAN DEFAULT 1, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE api_usage (id INTEGER PRIMARY KEY, api_key_id INTEGER REFERENCES api_keys(id), endpoint TEXT, cost REAL, timestamp TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE payment_details (id INTEGER PRIMARY KEY, client_id INTEGER REFERENCES clients(id), payment_method TEXT, frequency TEXT);
`;

export interface VigintSource {
  path: string;
  /** The original keys, as the clients hold them. */
  keys: { acme: string; tech: string; secure: string; inactive: string };
  db: Sqlite.Database;
}

/**
 * Seed 02's three clients and its week of usage (Acme 2025-10-02: a buffer and an analyze call,
 * TechCo a buffer call, SecureInc an alert), with a few more rows in week 2025-W40.
 */
export function buildVigintSource(dir: string, name = 'vigint.db'): VigintSource {
  const path = join(dir, name);
  const db = new Sqlite(path);
  db.exec(VIGINT_SCHEMA);
  const keys = { acme: vigintKey(), tech: vigintKey(), secure: vigintKey(), inactive: vigintKey() };
  const client = db.prepare(
    'INSERT INTO clients (id, name, email, created_at) VALUES (?, ?, ?, ?)',
  );
  client.run(1, 'Acme Corp', 'acme@example.com', '2025-09-01 10:00:00');
  client.run(2, 'TechCo', 'tech@example.com', '2025-09-02 10:00:00');
  client.run(3, 'SecureInc', 'secure@example.com', '2025-09-03 10:00:00');
  const key = db.prepare(
    'INSERT INTO api_keys (id, client_id, key_hash, is_active) VALUES (?, ?, ?, ?)',
  );
  key.run(1, 1, sha256(keys.acme), 1);
  key.run(2, 2, sha256(keys.tech), 1);
  key.run(3, 3, sha256(keys.secure), 1);
  key.run(4, 1, sha256(keys.inactive), 0);
  const use = db.prepare(
    'INSERT INTO api_usage (id, api_key_id, endpoint, cost, timestamp) VALUES (?, ?, ?, ?, ?)',
  );
  use.run(1, 1, '/api/video/buffer', 0.01, '2025-10-02');
  use.run(2, 1, '/api/video/analyze', 0.05, '2025-10-02');
  use.run(3, 2, '/api/video/buffer', 0.01, '2025-10-02');
  use.run(4, 3, '/api/alert', 0.1, '2025-10-02');
  use.run(5, 1, '/api/video/analyze', 0.05, '2025-09-29 08:15:00');
  use.run(6, 1, '/api/alert', 0.1, '2025-10-06 00:00:01'); // the next week
  const pay = db.prepare(
    'INSERT INTO payment_details (client_id, payment_method, frequency) VALUES (?, ?, ?)',
  );
  pay.run(1, 'credit_card', 'weekly');
  pay.run(2, 'bank_transfer', 'weekly');
  return { path, keys, db };
}

/** A token as seed 05's create_api_key returns it: `permas_{env}_{secrets.token_urlsafe(32)}`. */
export function permasToken(env: 'live' | 'test'): string {
  return `permas_${env}_${randomBytes(32).toString('base64url')}`;
}

/**
 * Seed 05's key store, from its own description (the API key service's SQLite fallback): one
 * row per token with its provider, name, description, environment, the token's hash, scopes
 * and IP restrictions, expiry, revocation with its reason, and usage statistics.
 */
export const PERMAS_SCHEMA = `
CREATE TABLE api_keys (
  token_id TEXT PRIMARY KEY, provider_id TEXT NOT NULL, name TEXT, description TEXT,
  environment TEXT NOT NULL, token_hash TEXT NOT NULL, scopes TEXT NOT NULL DEFAULT '[]',
  ip_restrictions TEXT, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, expires_at TIMESTAMP,
  last_used_at TIMESTAMP, is_revoked BOOLEAN DEFAULT 0, revoked_at TIMESTAMP,
  revocation_reason TEXT, request_count INTEGER DEFAULT 0
);
`;

export interface PermasSource {
  path: string;
  /** The original tokens, as the providers' callers hold them. */
  tokens: { live: string; test: string; revoked: string; expired: string; other: string };
  db: Sqlite.Database;
}

/**
 * Provider `provider123` (the seed's example) holds a live key restricted to 192.168.1.1, a
 * test key with two scopes expiring in 2100, a revoked and an expired key; `provider456` one key.
 */
export function buildPermasSource(dir: string, name = 'api_keys.db'): PermasSource {
  const path = join(dir, name);
  const db = new Sqlite(path);
  db.exec(PERMAS_SCHEMA);
  const tokens = {
    live: permasToken('live'),
    test: permasToken('test'),
    revoked: permasToken('live'),
    expired: permasToken('live'),
    other: permasToken('live'),
  };
  const add = db.prepare(`INSERT INTO api_keys (token_id, provider_id, name, description,
    environment, token_hash, scopes, ip_restrictions, created_at, expires_at, last_used_at,
    is_revoked, revoked_at, revocation_reason, request_count)
    VALUES (@id, @provider, @name, @description, @env, @hash, @scopes, @ips, @created, @expires,
    @used, @revoked, @revokedAt, @reason, @count)`);
  const row = (id: string, token: string, over: Record<string, unknown> = {}) =>
    add.run({
      id,
      provider: 'provider123',
      name: `key ${id}`,
      description: null,
      env: token.startsWith('permas_test_') ? 'test' : 'live',
      hash: sha256(token),
      scopes: '["api:access"]',
      ips: null,
      created: '2025-06-01 09:00:00',
      expires: '2026-06-01 09:00:00',
      used: null,
      revoked: 0,
      revokedAt: null,
      reason: null,
      count: 0,
      ...over,
    });
  row('tok_live', tokens.live, {
    name: 'My API Key',
    description: 'My live API key',
    ips: '["192.168.1.1"]',
    used: '2025-10-30 12:00:00',
    count: 42,
    expires: '2100-01-01 00:00:00',
  });
  row('tok_test', tokens.test, {
    scopes: '["api:access", "reports:read"]',
    expires: '2100-01-01 00:00:00',
  });
  row('tok_revoked', tokens.revoked, {
    revoked: 1,
    revokedAt: '2025-09-15 08:00:00',
    reason: 'leaked in a public repository',
    expires: '2100-01-01 00:00:00',
  });
  row('tok_expired', tokens.expired, { expires: '2025-07-01 00:00:00' });
  row('tok_other', tokens.other, { provider: 'provider456', expires: null });
  return { path, tokens, db };
}

/**
 * Seed 03's tables (database/postgres/schemas/customers_and_credentials.sql, as its document
 * describes them). `constraints: false` builds them without keys, as a damaged dump would be.
 */
export function optiinfraSchema(constraints = true): string {
  const pk = constraints ? 'PRIMARY KEY DEFAULT gen_random_uuid()' : '';
  const ref = constraints ? 'REFERENCES customers(id)' : '';
  return `
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE TABLE customers (id UUID ${pk}, email VARCHAR(255) ${constraints ? 'UNIQUE' : ''},
  company_name VARCHAR(255), status VARCHAR(50) DEFAULT 'active',
  subscription_tier VARCHAR(50) DEFAULT 'free', created_at TIMESTAMP DEFAULT NOW());
CREATE TABLE cloud_credentials (id UUID ${pk}, customer_id UUID ${ref},
  provider VARCHAR(50), credential_name VARCHAR(255), encrypted_credentials BYTEA,
  credential_type VARCHAR(50), permissions VARCHAR(50), is_active BOOLEAN DEFAULT TRUE,
  is_verified BOOLEAN DEFAULT FALSE, last_verified_at TIMESTAMP, last_used_at TIMESTAMP,
  usage_count INTEGER DEFAULT 0, created_at TIMESTAMP DEFAULT NOW(), updated_at TIMESTAMP DEFAULT NOW());
CREATE TABLE credential_audit_log (id UUID ${pk}, credential_id UUID, customer_id UUID,
  action VARCHAR(50), action_details TEXT, ip_address INET, created_at TIMESTAMP DEFAULT NOW());
`;
}

export interface OptiinfraSource {
  url: string;
  client: pg.Client;
  /** The secrets as the customers entered them. */
  secrets: { vultr: string; awsKeyId: string; awsSecret: string };
  ids: { acme: string; beta: string; vultr: string; aws: string; old: string };
  drop(): Promise<void>;
}

/** A fresh PostgreSQL database on the test server, dropped by `drop`. */
export async function sourceDatabase(adminUrl: string): Promise<{
  url: string;
  client: pg.Client;
  drop(): Promise<void>;
}> {
  const name = `optiinfra_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = adminUrl.replace(/\/[^/]*$/, `/${name}`);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return {
    url,
    client,
    drop: async () => {
      await client.end();
      const d = new pg.Client({ connectionString: adminUrl });
      await d.connect();
      await d.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await d.end();
    },
  };
}

/** Inserts a credential as the seed's CredentialManager stores it (pgp_sym_encrypt of the JSON). */
export async function addOptiinfraCredential(
  c: pg.Client,
  key: string,
  row: Record<string, unknown> & { credentials: unknown },
): Promise<void> {
  const { credentials, ...rest } = row;
  const cols = Object.keys(rest);
  const values = Object.values(rest);
  const at = values.length + 1;
  await c.query(
    `INSERT INTO cloud_credentials (${cols.join(', ')}, encrypted_credentials)
     VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')}, pgp_sym_encrypt($${at}, $${at + 1}))`,
    [...values, typeof credentials === 'string' ? credentials : JSON.stringify(credentials), key],
  );
}

/**
 * The seed's example customer (a0eebc99-…) with a verified, used Vultr key and an inactive
 * (soft-deleted) one, a trial customer with an AWS key, and their audit log.
 */
export async function buildOptiinfraSource(
  adminUrl: string,
  key: string,
): Promise<OptiinfraSource> {
  const db = await sourceDatabase(adminUrl);
  const c = db.client;
  await c.query(optiinfraSchema());
  const ids = {
    acme: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    beta: 'b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12',
    vultr: '11111111-1111-4111-8111-111111111111',
    aws: '22222222-2222-4222-8222-222222222222',
    old: '33333333-3333-4333-8333-333333333333',
  };
  const secrets = {
    vultr: `VULTR${randomBytes(18).toString('hex').toUpperCase()}`,
    awsKeyId: `AKIA${randomBytes(8).toString('hex').toUpperCase()}`,
    awsSecret: randomBytes(30).toString('base64url'),
  };
  await c.query(
    `INSERT INTO customers (id, email, company_name, status, subscription_tier, created_at) VALUES
     ($1, 'ops@acme.example', 'Acme Cloud', 'active', 'professional', '2025-10-01 09:00:00'),
     ($2, 'cto@beta.example', 'Beta Labs', 'trial', 'starter', '2025-10-02 09:00:00')`,
    [ids.acme, ids.beta],
  );
  await addOptiinfraCredential(c, key, {
    id: ids.vultr,
    customer_id: ids.acme,
    provider: 'vultr',
    credential_name: 'Production Vultr',
    credential_type: 'api_key',
    permissions: 'read_only',
    is_verified: true,
    last_verified_at: '2025-10-29 10:05:00',
    last_used_at: '2025-10-30 08:00:00',
    usage_count: 42,
    created_at: '2025-10-29 10:00:00',
    updated_at: '2025-10-30 08:00:00',
    credentials: { api_key: secrets.vultr },
  });
  await addOptiinfraCredential(c, key, {
    id: ids.old,
    customer_id: ids.acme,
    provider: 'vultr',
    credential_name: 'Old Vultr',
    is_active: false,
    created_at: '2025-10-20 10:00:00',
    credentials: { api_key: `VULTR${randomBytes(18).toString('hex').toUpperCase()}` },
  });
  await addOptiinfraCredential(c, key, {
    id: ids.aws,
    customer_id: ids.beta,
    provider: 'aws',
    credential_name: 'Production AWS',
    credential_type: 'access_key',
    permissions: 'read_write',
    created_at: '2025-10-29 11:00:00',
    credentials: { access_key_id: secrets.awsKeyId, secret_access_key: secrets.awsSecret },
  });
  await c.query(
    `INSERT INTO credential_audit_log (credential_id, customer_id, action, action_details, ip_address, created_at) VALUES
     ($1, $3, 'created', 'Credential ''Production Vultr'' created', '203.0.113.5', '2025-10-29 10:00:00'),
     ($1, $3, 'verified', 'verified against the Vultr API', NULL, '2025-10-29 10:05:00'),
     ($1, $3, 'used', 'cost collection', NULL, '2025-10-30 08:00:00'),
     ($2, $4, 'created', 'Credential ''Production AWS'' created', '198.51.100.7', '2025-10-29 11:00:00'),
     ($5, $3, 'deleted', 'Credential ''Old Vultr'' deleted', NULL, '2025-10-28 10:00:00')`,
    [ids.vultr, ids.aws, ids.acme, ids.beta, ids.old],
  );
  return { url: db.url, client: c, secrets, ids, drop: db.drop };
}
