import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.ts';
import { ConfigError } from '../config.ts';

/**
 * The master keyring: 256-bit keys by id, one of them active (new data keys are wrapped with
 * it; the others only unwrap). Sources, first match wins:
 * - `KEYPLANE_MASTER_KEYS=id:base64,id2:base64` — the first entry is the active key, unless
 *   one entry is marked with a leading `*` (`old:…,*new:…`): that one is active. New data keys
 *   are wrapped with the active key; `keyplane credentials rewrap` moves the old ones to it;
 * - `KEYPLANE_MASTER_KEY=base64` — one key with id `default`;
 * - the embedded default: `{dataDir}/master.key`, generated `0600` on first start (SQLite only).
 */
export interface Keyring {
  activeId: string;
  keys: Map<string, Buffer>;
  source: 'env' | 'generated' | 'file';
}

function decodeKey(text: string, where: string, problems: string[]): Buffer | null {
  const buf = Buffer.from(text.trim(), 'base64');
  if (buf.length !== 32 || !/^[A-Za-z0-9+/=_-]+$/.test(text.trim())) {
    problems.push(`${where}: must be 32 bytes in base64 (openssl rand -base64 32)`);
    return null;
  }
  return buf;
}

export function loadKeyring(config: Config, onGenerated?: (path: string) => void): Keyring {
  const problems: string[] = [];
  if (config.masterKeys) {
    const keys = new Map<string, Buffer>();
    let activeId = '';
    let marked = '';
    for (const [i, part] of config.masterKeys.split(',').entries()) {
      const m = /^(\*?)([A-Za-z0-9_.-]{1,64}):(.+)$/.exec(part.trim());
      if (!m) {
        problems.push(
          `KEYPLANE_MASTER_KEYS: entry ${i + 1} must be id:base64 (or *id:base64 for the active key)`,
        );
        continue;
      }
      const id = m[2]!;
      const key = decodeKey(m[3]!, `KEYPLANE_MASTER_KEYS entry "${id}"`, problems);
      if (keys.has(id)) problems.push(`KEYPLANE_MASTER_KEYS: id "${id}" appears twice`);
      if (key) keys.set(id, key);
      if (i === 0) activeId = id;
      if (m[1]) {
        if (marked) problems.push('KEYPLANE_MASTER_KEYS: only one entry may be marked active (*)');
        marked = id;
      }
    }
    if (marked) activeId = marked;
    if (problems.length) throw new ConfigError(problems);
    return { activeId, keys, source: 'env' };
  }
  if (config.masterKey) {
    const key = decodeKey(config.masterKey, 'KEYPLANE_MASTER_KEY', problems);
    if (!key) throw new ConfigError(problems);
    return { activeId: 'default', keys: new Map([['default', key]]), source: 'env' };
  }
  if (!config.databaseUrl.startsWith('sqlite:')) {
    throw new ConfigError([
      'KEYPLANE_MASTER_KEY: required with PostgreSQL, so that every node holds the same key (openssl rand -base64 32)',
    ]);
  }
  const path = join(config.dataDir, 'master.key');
  if (existsSync(path)) {
    const mode = statSync(path).mode & 0o777;
    if (mode & 0o077) chmodSync(path, 0o600);
    const key = decodeKey(readFileSync(path, 'utf8'), path, problems);
    if (!key) throw new ConfigError(problems);
    return { activeId: 'default', keys: new Map([['default', key]]), source: 'file' };
  }
  mkdirSync(config.dataDir, { recursive: true });
  const key = randomBytes(32);
  writeFileSync(path, key.toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  onGenerated?.(path);
  return { activeId: 'default', keys: new Map([['default', key]]), source: 'generated' };
}
