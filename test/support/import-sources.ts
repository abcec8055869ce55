import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';
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
