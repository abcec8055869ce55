import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runKeyplaneInProcess } from './support/cli.ts';
import { runKeyplane, tempDir } from './support/keyplane-process.ts';

// The binary itself runs for --help, one configuration error and `npm start`; the other cases
// run the same program in-process (test/support/cli.ts).

/** What a stack trace looks like in Node's output. */
const STACK = /^\s+at .+\(?.*:\d+:\d+\)?$/m;

describe('keyplane CLI: help and configuration errors', () => {
  it('--help lists the commands', async () => {
    const r = await runKeyplane(['--help'], { realBinary: true });
    expect(r.code).toBe(0);
    for (const cmd of ['serve', 'migrate', 'admin-tokens', 'audit']) {
      expect(r.stdout).toMatch(new RegExp(`^\\s+${cmd}\\b`, 'm'));
    }
    expect(r.stdout).toContain('KEYPLANE_');
  });

  it('serve with bad variables exits 2 with one clear line per problem and no stack trace', async () => {
    const cwd = tempDir();
    const r = await runKeyplane(['serve'], {
      cwd,
      realBinary: true,
      env: {
        KEYPLANE_PORT: 'eighty',
        KEYPLANE_KEY_PREFIX: 'UPPER',
        KEYPLANE_DATABASE_URL: 'mysql://nope',
      },
    });
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toEqual([
      'config error: KEYPLANE_DATABASE_URL: must be sqlite:PATH or postgres://…',
      'config error: KEYPLANE_PORT: must be a number',
      'config error: KEYPLANE_KEY_PREFIX: must be 1-16 lowercase letters or digits',
    ]);
    expect(r.stderr).not.toMatch(STACK);
    expect(r.stdout).toBe('');
    // Nothing was created: the server stopped before touching storage.
    expect(existsSync(join(cwd, 'data'))).toBe(false);
  });

  it('serve with a bad --port exits 2', async () => {
    const r = await runKeyplaneInProcess(['serve', '--port', '-5']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('config error: KEYPLANE_PORT: must be between 0 and 65535');
  });

  it('serve with a bad config file exits 2, naming the file settings', async () => {
    const cwd = tempDir();
    writeFileSync(
      join(cwd, 'keyplane.config.yaml'),
      'pricing:\n  "GET /v1/health": "a lot"\nproviders:\n  vultr:\n    policy: whenever\nlogLevle: debug\n',
    );
    const r = await runKeyplaneInProcess(['serve'], { cwd });
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines.every((l) => l.startsWith('config error: '))).toBe(true);
    expect(r.stderr).toContain('unknown setting(s): logLevle');
    expect(r.stderr).toContain('pricing.GET /v1/health: ');
    expect(r.stderr).toContain('providers.vultr.policy: ');
    expect(r.stderr).not.toMatch(STACK);
  });

  it('serve with an unparsable or missing config file exits 2', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'keyplane.config.json'), '{ "port": 80,, }');
    const broken = await runKeyplaneInProcess(['serve'], { cwd });
    expect(broken.code).toBe(2);
    expect(broken.stderr.trim().split('\n')).toHaveLength(1);
    expect(broken.stderr).toMatch(/keyplane\.config\.json: cannot parse/);
    const missing = await runKeyplaneInProcess(['serve'], {
      cwd,
      env: { KEYPLANE_CONFIG: 'other.yaml' },
    });
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim()).toBe('config error: KEYPLANE_CONFIG: file not found: other.yaml');
  });

  it('serve with a bad master key exits 2 without echoing it', async () => {
    const cwd = tempDir();
    const r = await runKeyplaneInProcess(['serve'], {
      cwd,
      env: { KEYPLANE_MASTER_KEY: 'dG9vLXNob3J0' },
    });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      'config error: KEYPLANE_MASTER_KEY: must be 32 bytes in base64 (openssl rand -base64 32)',
    );
    expect(r.stderr + r.stdout).not.toContain('dG9vLXNob3J0');
    expect(r.stderr).not.toMatch(STACK);
  });

  it('serve on PostgreSQL without a master key exits 2', async () => {
    const r = await runKeyplaneInProcess(['serve'], {
      env: { KEYPLANE_DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' },
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^config error: KEYPLANE_MASTER_KEY: required with PostgreSQL/);
    expect(r.stderr).not.toMatch(STACK);
  });

  it('the other commands validate the same way', async () => {
    for (const args of [['migrate'], ['admin-tokens', 'list'], ['audit', 'verify']]) {
      const r = await runKeyplaneInProcess(args, { env: { KEYPLANE_MODE: 'staging' } });
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^config error: KEYPLANE_MODE: /);
      expect(r.stderr).not.toMatch(STACK);
    }
  });

  it('npm start runs keyplane serve', async () => {
    const dataDir = tempDir();
    const child = spawn('npm', ['start', '--silent'], {
      cwd: resolve(import.meta.dirname, '..'),
      env: {
        ...Object.fromEntries(
          Object.entries(process.env).filter(([k]) => !k.startsWith('KEYPLANE_')),
        ),
        KEYPLANE_DATA_DIR: dataDir,
        KEYPLANE_PORT: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((r) => child.on('exit', () => r()));
    try {
      await new Promise<void>((ok, fail) => {
        const t = setTimeout(() => fail(new Error(`npm start did not listen:\n${out}`)), 30_000);
        child.stdout.on('data', () => {
          if (out.includes('"msg":"keyplane listening"')) {
            clearTimeout(t);
            ok();
          }
        });
      });
      expect(existsSync(join(dataDir, 'keyplane.db'))).toBe(true);
      expect(out).toContain('bootstrap admin token');
    } finally {
      process.kill(-child.pid!, 'SIGTERM');
      await exited;
    }
  });
});
