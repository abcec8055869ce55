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
