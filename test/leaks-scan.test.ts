import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateKey, keyPatternSource, parseKey } from '../src/lib/key-format.ts';
import { createHarness, TEST_MASTER_KEY, type Harness } from './support/harness.ts';
import { runKeyplaneInProcess } from './support/cli.ts';
import { tempDir } from './support/keyplane-process.ts';
import { ENGINES } from './support/stores.ts';

/** A small seeded PRNG (mulberry32): the corpus is random but the same on every run. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const PRINTABLE = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('');

interface Planted {
  file: string;
  line: number;
  column: number;
  start: string;
}

/**
 * 100 000 random strings (printable noise, plus near misses: the key shape with a failing
 * checksum, one character of a real key changed, another deployment's prefix, a key glued to
 * a longer word) over nested files, with real keys planted at known places.
 */
function buildCorpus(root: string) {
  const rand = prng(17);
  const pick = (chars: string, n: number) =>
    Array.from({ length: n }, () => chars[Math.floor(rand() * chars.length)]).join('');
  const nearMiss = (): string => {
    switch (Math.floor(rand() * 4)) {
      case 0: {
        const s = `kp_${rand() < 0.5 ? 'live' : 'test'}_${pick(BASE62, 49)}`;
        return parseKey(s) ? nearMiss() : s; // (a 1 in 62^6 chance of a valid checksum)
      }
      case 1: {
        const k = generateKey('kp', 'live');
        const i = 8 + Math.floor(rand() * 49);
        const c = BASE62[(BASE62.indexOf(k[i]!) + 1) % 62]!;
        return k.slice(0, i) + c + k.slice(i + 1);
      }
      case 2:
        return generateKey('zz', 'live');
      default:
        return `x${generateKey('kp', 'test')}`;
    }
  };
  const planted: Planted[] = [];
  const keys: string[] = [];
  let strings = 0;
  for (let f = 0; f < 20; f++) {
    const rel = join(`dir${f % 4}`, f % 3 ? 'nested' : '', `file${f}.txt`);
    const lines: string[] = [];
    for (let l = 0; l < 5000; l++) {
      let line = rand() < 0.02 ? nearMiss() : pick(PRINTABLE, 1 + Math.floor(rand() * 80));
      strings++;
      if (rand() < 0.0006 || (l === 4999 && f === 19)) {
        const key = generateKey('kp', rand() < 0.5 ? 'live' : 'test');
        const before = rand() < 0.5 ? '' : `${pick('abc =:"', 3)} `;
        line = `${before}${key}${rand() < 0.5 ? '' : ` "${pick(PRINTABLE, 5)}`}`;
        planted.push({
          file: rel,
          line: l + 1,
          column: before.length + 1,
          start: parseKey(key)!.start,
        });
        keys.push(key);
      }
      lines.push(line);
    }
    mkdirSync(join(root, rel, '..'), { recursive: true });
    writeFileSync(join(root, rel), lines.join('\n') + '\n');
  }
  // Installed packages are not scanned.
  mkdirSync(join(root, 'node_modules', 'pkg'), { recursive: true });
  writeFileSync(join(root, 'node_modules', 'pkg', 'index.js'), generateKey('kp', 'live'));
  return { planted, keys, strings };
}

const sortKey = (p: Planted) => `${p.file}:${String(p.line).padStart(6, '0')}:${p.column}`;

describe('keyplane scan (offline)', () => {
  it('finds exactly the planted keys in a 100k-string corpus, printing only their starts', async () => {
    const root = tempDir('kp-scan-');
    const { planted, keys, strings } = buildCorpus(root);
    expect(strings).toBe(100_000);
    expect(planted.length).toBeGreaterThan(20);
    const res = await runKeyplaneInProcess(['scan', '.', '--json'], { cwd: root });
    expect(res.code).toBe(1);
    const out = JSON.parse(res.stdout) as {
      findings: Array<Planted & { kind: string }>;
      count: number;
    };
    const found = out.findings.map(({ file, line, column, start }) => ({
      file,
      line,
      column,
      start,
    }));
    expect(found.sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : 1))).toEqual(
      [...planted].sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : 1)),
    );
    for (const k of keys) expect(res.stdout).not.toContain(k);

    const human = await runKeyplaneInProcess(['scan', 'dir0'], { cwd: root });
    expect(human.code).toBe(1);
    const first = planted.find((p) => p.file.startsWith('dir0'))!;
    expect(human.stdout).toContain(`${first.file}:${first.line}:${first.column}: ${first.start}…`);
    for (const k of keys) expect(human.stdout).not.toContain(k);
  }, 120_000);

  it('reads stdin; exits 0 when nothing is found; a wrong checksum is not a key', async () => {
    const key = generateKey('kp', 'live');
    const wrong = key.slice(0, -1) + (key.endsWith('0') ? '1' : '0');
    const none = await runKeyplaneInProcess(['scan'], { input: `nothing here\n${wrong}\n` });
    expect(none.code).toBe(0);
    expect(none.stdout).toContain('no Keyplane keys found');
    const one = await runKeyplaneInProcess(['scan', '-', '--json'], { input: `a\nb ${key}\n` });
    expect(one.code).toBe(1);
    expect(JSON.parse(one.stdout).findings).toMatchObject([
      { file: '-', line: 2, column: 3, start: parseKey(key)!.start, environment: 'live' },
    ]);
  });

  it('--pattern prints the key-format regular expression for the configured prefix', async () => {
    const res = await runKeyplaneInProcess(['scan', '--pattern'], {
      env: { KEYPLANE_KEY_PREFIX: 'acme' },
    });
    expect(res.code).toBe(0);
    expect(res.stdout.trim()).toBe(keyPatternSource(['acme']));
    const re = new RegExp(`^${res.stdout.trim()}$`);
    expect(re.test(generateKey('acme', 'live'))).toBe(true);
    expect(re.test(generateKey('kp', 'live'))).toBe(false);
  });
});

describe.each(ENGINES)('keyplane scan --check / --revoke on %s', (engine) => {
  let h: Harness;
  afterAll(async () => h?.close());

  it('asks the store whether each key is live, and --revoke revokes the live ones', async () => {
    h = await createHarness(engine);
    const res = await h.app.inject({
      method: 'POST',
      url: '/admin/v1/clients',
      headers: h.adminHeaders,
      payload: { name: 'Scanned', email: 'scanned@example.com' },
    });
    const c = res.json() as { client: { id: string }; key: { id: string }; apiKey: string };
    const dir = tempDir('kp-scan-check-');
    const unknown = generateKey('kp', 'test');
    writeFileSync(join(dir, '.env'), `API_KEY=${c.apiKey}\nOTHER=${unknown}\n`);
    const env = {
      KEYPLANE_DATABASE_URL: h.database.url,
      KEYPLANE_MASTER_KEY: TEST_MASTER_KEY,
      KEYPLANE_DATA_DIR: h.database.dir,
    };
    const checked = await runKeyplaneInProcess(['scan', '.', '--check', '--json'], {
      cwd: dir,
      env,
    });
    expect(checked.code).toBe(1);
    expect(JSON.parse(checked.stdout).findings.map((f: { status: string }) => f.status)).toEqual([
      'live',
      'unknown',
    ]);
    expect((await h.services.keys.get(c.client.id, c.key.id)).status).toBe('active');

    const revoked = await runKeyplaneInProcess(['scan', '.', '--revoke'], { cwd: dir, env });
    expect(revoked.code).toBe(1);
    expect(revoked.stdout).toContain('.env:1:9:');
    expect(revoked.stdout).toContain('revoked');
    expect(revoked.stdout).not.toContain(c.apiKey);
    const key = await h.services.keys.get(c.client.id, c.key.id);
    expect(key.status).toBe('revoked');
    expect(key.revokedReason).toBe('leaked: .env:1');
    const again = await runKeyplaneInProcess(['scan', '.', '--check', '--json'], { cwd: dir, env });
    expect(JSON.parse(again.stdout).findings[0].status).toBe('revoked');
  }, 60_000);
});
