import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, ENV_VARIABLES, loadConfig } from './config.ts';

function dir(): string {
  return mkdtempSync(join(tmpdir(), 'kp-config-'));
}

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('gives the embedded default with no file and no variables', () => {
    const cwd = dir();
    const c = loadConfig({}, cwd);
    expect(c).toMatchObject({
      dataDir: join(cwd, 'data'),
      databaseUrl: `sqlite:${join(cwd, 'data', 'keyplane.db')}`,
      port: 8080,
      host: '127.0.0.1',
      keyPrefix: 'kp',
      mode: 'production',
      trustProxy: false,
      metricsPublic: false,
      currency: 'EUR',
      pricing: {},
      providers: {},
    });
    expect(c.billing.schedule).toBe('weekly');
  });

  it('reads keyplane.config.json and lets KEYPLANE_* variables override it', () => {
    const cwd = dir();
    writeFileSync(
      join(cwd, 'keyplane.config.json'),
      JSON.stringify({
        port: 9000,
        host: '0.0.0.0',
        keyPrefix: 'acme',
        pricing: { 'GET /v1/health': 0.01, 'POST /v1/proxy/gemini/*': '0.002', '*': 0 },
        providers: { vultr: { baseUrl: 'http://127.0.0.1:9999', policy: 'byok' } },
      }),
    );
    const c = loadConfig({ KEYPLANE_PORT: '7000', KEYPLANE_METRICS_PUBLIC: 'true' }, cwd);
    expect(c.port).toBe(7000); // env wins
    expect(c.host).toBe('0.0.0.0'); // file value kept
    expect(c.keyPrefix).toBe('acme');
    expect(c.metricsPublic).toBe(true);
    expect(c.pricing).toEqual({
      'GET /v1/health': 0.01,
      'POST /v1/proxy/gemini/*': '0.002',
      '*': 0,
    });
    expect(c.providers.vultr).toEqual({ baseUrl: 'http://127.0.0.1:9999', policy: 'byok' });
  });

  it('reads keyplane.config.yaml the same way', () => {
    const cwd = dir();
    writeFileSync(
      join(cwd, 'keyplane.config.yaml'),
      [
        'port: 9100',
        'mode: development',
        'currency: USD',
        'pricing:',
        '  "POST /api/video/analyze": "0.05"',
        'billing:',
        '  schedule: "off"',
        '  operator:',
        '    name: Acme GmbH',
      ].join('\n'),
    );
    const c = loadConfig({ KEYPLANE_MODE: 'production' }, cwd);
    expect(c.port).toBe(9100);
    expect(c.mode).toBe('production');
    expect(c.currency).toBe('USD');
    expect(c.pricing['POST /api/video/analyze']).toBe('0.05');
    expect(c.billing).toMatchObject({ schedule: 'off', operator: { name: 'Acme GmbH' } });
  });

  it('reads the file KEYPLANE_CONFIG names (relative to the working directory)', () => {
    const cwd = dir();
    writeFileSync(join(cwd, 'keyplane.config.json'), JSON.stringify({ port: 1111 }));
    writeFileSync(join(cwd, 'other.yml'), 'port: 2222\nhost: ::1\n');
    expect(loadConfig({ KEYPLANE_CONFIG: 'other.yml' }, cwd)).toMatchObject({
      port: 2222,
      host: '::1',
    });
    expect(loadConfig({}, cwd).port).toBe(1111);
  });

  it('treats an empty variable as unset', () => {
    const cwd = dir();
    writeFileSync(join(cwd, 'keyplane.config.json'), JSON.stringify({ port: 1234 }));
    expect(loadConfig({ KEYPLANE_PORT: '' }, cwd).port).toBe(1234);
  });

  it('accepts sqlite: and postgres:// database URLs', () => {
    const cwd = dir();
    expect(loadConfig({ KEYPLANE_DATABASE_URL: 'sqlite:/tmp/x.db' }, cwd).databaseUrl).toBe(
      'sqlite:/tmp/x.db',
    );
    expect(
      loadConfig({ KEYPLANE_DATABASE_URL: 'postgresql://u:p@h:5432/d' }, cwd).databaseUrl,
    ).toBe('postgresql://u:p@h:5432/d');
  });

  it('reports one line per bad value, naming the variable', () => {
    const problems = problemsOf(() =>
      loadConfig(
        {
          KEYPLANE_PORT: 'eighty',
          KEYPLANE_KEY_PREFIX: 'Has_Upper',
          KEYPLANE_MODE: 'staging',
          KEYPLANE_DATABASE_URL: 'mysql://x',
          KEYPLANE_REDIS_URL: 'http://x',
          KEYPLANE_TRUST_PROXY: 'maybe',
          KEYPLANE_SMTP_URL: 'mail.example.com',
        },
        dir(),
      ),
    );
    expect(problems).toHaveLength(7);
    for (const name of [
      'KEYPLANE_PORT',
      'KEYPLANE_KEY_PREFIX',
      'KEYPLANE_MODE',
      'KEYPLANE_DATABASE_URL',
      'KEYPLANE_REDIS_URL',
      'KEYPLANE_TRUST_PROXY',
      'KEYPLANE_SMTP_URL',
    ]) {
      expect(problems.filter((p) => p.startsWith(`${name}: `))).toHaveLength(1);
    }
    for (const p of problems) expect(p).not.toContain('\n');
  });

  it('rejects a port out of range and a wrong currency', () => {
    const problems = problemsOf(() =>
      loadConfig({ KEYPLANE_PORT: '70000', KEYPLANE_CURRENCY: 'euro' }, dir()),
    );
    expect(problems).toEqual([
      'KEYPLANE_PORT: must be between 0 and 65535',
      'KEYPLANE_CURRENCY: must be a 3-letter ISO currency code',
    ]);
  });

  it('names bad file settings by their path, and unknown settings', () => {
    const cwd = dir();
    writeFileSync(
      join(cwd, 'keyplane.config.json'),
      JSON.stringify({
        prot: 8080,
        pricing: { 'GET /v1/health': -1, 'POST /x': '1,5' },
        providers: { vultr: { baseUrl: 'not a url', policy: 'sometimes' } },
      }),
    );
    const problems = problemsOf(() => loadConfig({}, cwd));
    expect(problems).toHaveLength(5);
    expect(problems).toContain('(config file): unknown setting(s): prot');
    expect(problems.some((p) => p.startsWith('pricing.GET /v1/health: '))).toBe(true);
    expect(problems.some((p) => p.startsWith('pricing.POST /x: '))).toBe(true);
    expect(problems).toContain('providers.vultr.baseUrl: must be a URL');
    expect(problems.some((p) => p.startsWith('providers.vultr.policy: '))).toBe(true);
  });

  it('takes the budget reservation timeout from the file (default 300 s), a whole positive number', () => {
    expect(loadConfig({}, dir()).budgets.reservationTimeoutSeconds).toBe(300);
    const cwd = dir();
    const file = join(cwd, 'keyplane.config.json');
    writeFileSync(file, JSON.stringify({ budgets: { reservationTimeoutSeconds: 30 } }));
    expect(loadConfig({}, cwd).budgets.reservationTimeoutSeconds).toBe(30);
    writeFileSync(file, JSON.stringify({ budgets: { reservationTimeoutSeconds: 0 } }));
    const problems = problemsOf(() => loadConfig({}, cwd));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^budgets\.reservationTimeoutSeconds: /);
  });

  it('says when the named file is missing, cannot be parsed, or is not an object', () => {
    const cwd = dir();
    expect(problemsOf(() => loadConfig({ KEYPLANE_CONFIG: 'nope.json' }, cwd))).toEqual([
      'KEYPLANE_CONFIG: file not found: nope.json',
    ]);
    writeFileSync(join(cwd, 'broken.json'), '{"port": ');
    const [broken] = problemsOf(() => loadConfig({ KEYPLANE_CONFIG: 'broken.json' }, cwd));
    expect(broken).toMatch(/broken\.json: cannot parse: /);
    writeFileSync(join(cwd, 'list.yaml'), '- a\n- b\n');
    expect(problemsOf(() => loadConfig({ KEYPLANE_CONFIG: 'list.yaml' }, cwd))).toEqual([
      `${join(cwd, 'list.yaml')}: must hold an object`,
    ]);
  });

  it('says when the config file cannot be read', () => {
    const cwd = dir();
    mkdirSync(join(cwd, 'conf.json'));
    const problems = problemsOf(() => loadConfig({ KEYPLANE_CONFIG: 'conf.json' }, cwd));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/conf\.json: cannot read: /);
  });

  it('never echoes a master key in a message', () => {
    const secret = 'c2VjcmV0LXNlY3JldC1zZWNyZXQ=';
    const problems = problemsOf(() =>
      loadConfig({ KEYPLANE_MASTER_KEY: secret, KEYPLANE_PORT: 'x' }, dir()),
    );
    expect(problems.join('\n')).not.toContain(secret);
  });

  it('has every variable in the README configuration table', () => {
    const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Configuration'));
    for (const name of ENV_VARIABLES)
      expect(section, name).toMatch(new RegExp(`^\\| \`${name}\` +\\|`, 'm'));
  });

  it('documents every variable it reads', () => {
    expect(ENV_VARIABLES).toEqual(
      expect.arrayContaining([
        'KEYPLANE_CONFIG',
        'KEYPLANE_DATA_DIR',
        'KEYPLANE_DATABASE_URL',
        'KEYPLANE_REDIS_URL',
        'KEYPLANE_MASTER_KEY',
        'KEYPLANE_MASTER_KEYS',
        'KEYPLANE_PORT',
        'KEYPLANE_HOST',
        'KEYPLANE_KEY_PREFIX',
        'KEYPLANE_MODE',
        'KEYPLANE_SMTP_URL',
        'KEYPLANE_MAIL_FROM',
        'KEYPLANE_TRUST_PROXY',
        'KEYPLANE_METRICS_PUBLIC',
      ]),
    );
  });
});
