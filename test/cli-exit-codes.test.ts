import { describe, expect, it } from 'vitest';
import { runKeyplaneInProcess } from './support/cli.ts';
import { tempDir } from './support/keyplane-process.ts';

/**
 * The README's exit-code contract for every command: `1` for a usage error with one `error: …`
 * line, `2` for bad configuration with one `config error: …` line per problem. In-process
 * (test/support/cli.ts); cli-config.test.ts runs the real binary for the same contract.
 */
const usageErrors: Array<{ args: string[]; stderr: string | RegExp }> = [
  // commander's own checks
  { args: ['keys', 'create', '--client', 'c', '--bogus'], stderr: /^error: unknown option/ },
  { args: ['keys', 'create'], stderr: "error: required option '--client <id>' not specified" },
  { args: ['clients', 'show'], stderr: "error: missing required argument 'id'" },
  { args: ['nope'], stderr: /^error: unknown command 'nope'/ },
  // ours, before any store is opened
  { args: ['keys', 'create', '--client', 'c', '--env', 'prod'], stderr: '--env must be live' },
  { args: ['keys', 'create', '--client', 'c', '--credits', '-1'], stderr: '--credits must be' },
  { args: ['keys', 'create', '--client', 'c', '--credits', '1.5'], stderr: '--credits must be' },
  {
    args: ['keys', 'create', '--client', 'c', '--refill', 'weekly:10'],
    stderr: '--refill must be daily:N or monthly:N',
  },
  // the key input schema (src/keys/keys-input.ts), the same as the HTTP body's
  {
    args: ['keys', 'create', '--client', 'c', '--ip', '300.1.1.1'],
    stderr: 'error: invalid IP or CIDR "300.1.1.1"',
  },
  { args: ['keys', 'create', '--client', 'c', '--scopes', 'a b'], stderr: 'invalid scope(s): a b' },
  {
    args: ['keys', 'create', '--client', 'c', '--credits', '1', '--refill', 'daily:0'],
    stderr: 'error: --refill: ',
  },
  {
    args: ['keys', 'create', '--client', 'c', '--refill', 'monthly:5'],
    stderr: 'error: refill needs credits',
  },
  { args: ['keys', 'revoke', 'key_x', '--reason', 'x'.repeat(501)], stderr: 'error: --reason: ' },
  { args: ['keys', 'roll', 'key_x', '--grace', '400d'], stderr: 'error: --grace: ' },
  {
    args: ['keys', 'create', '--client', 'c', '--expires-in', '0'],
    stderr: 'error: --expires-in: ',
  },
  { args: ['keys', 'delete', 'key_x'], stderr: 'add --yes' },
  { args: ['keys', 'roll', 'key_x', '--grace', 'soon'], stderr: /^error: --grace: / },
  { args: ['usage', '--by', 'week'], stderr: '--by must be one of day, endpoint, key, client' },
  { args: ['audit', '--limit', '0'], stderr: '--limit must be 1-1000' },
  { args: ['clients', 'delete', 'cli_x'], stderr: 'add --yes to confirm' },
  { args: ['credentials', 'rewrap', '--batch', '0'], stderr: '--batch must be 1-10000' },
  { args: ['scan', 'no-such-file'], stderr: 'cannot read no-such-file' },
  // budgets: the flags go through the HTTP body's schema (src/budgets/budgets-input.ts)
  ...[
    [['--period', 'year'], '--period must be one of day, week, month, billing'],
    [['--mode', 'strict'], '--mode must be one of hard, soft'],
    [['--thresholds', '50,x'], '--thresholds must look like 50,80,100'],
    [['--thresholds', '0,50'], '--thresholds must look like 50,80,100'],
    [['--amount', '0'], '--amount: the amount must be a positive amount of money'],
    [['--amount', '1.0000001'], '--amount: not a decimal amount with at most 6 decimals'],
  ].map(([flags, stderr]) => ({
    args: ['budgets', 'set', '--client', 'c', '--amount', '1', ...(flags as string[])],
    stderr: stderr as string,
  })),
  { args: ['budgets', 'update', 'bud_x', '--client', 'c', '--mode', 'x'], stderr: '--mode must' },
  { args: ['budgets', 'update', 'bud_x', '--client', 'c', '--amount', '-1'], stderr: '--amount: ' },
];

describe('keyplane exit codes', () => {
  it.each(usageErrors)('usage error: keyplane $args → 1', async ({ args, stderr }) => {
    const cwd = tempDir('kp-exit-');
    const r = await runKeyplaneInProcess(args, { cwd });
    expect(r.code, r.stderr).toBe(1);
    const first = r.stderr.split('\n')[0]!;
    expect(first.startsWith('error: '), r.stderr).toBe(true);
    if (typeof stderr === 'string') expect(first).toContain(stderr);
    else expect(first).toMatch(stderr);
    expect(r.stdout).toBe('');
  });

  it('usage errors found with the store open exit 1 as well', async () => {
    const cwd = tempDir('kp-exit-');
    const created = await runKeyplaneInProcess(
      ['clients', 'create', '--name', 'Exit', '--email', 'exit@example.com', '--json'],
      { cwd },
    );
    expect(created.code, created.stderr).toBe(0);
    const id = JSON.parse(created.stdout).client.id as string;
    for (const [flag, value, message] of [
      ['--method', 'cash', 'error: --method: must be one of'],
      ['--email', 'not an email', 'error: --email: must be an email address'],
      ['--currency', 'euro', 'error: --currency: must be a 3-letter ISO currency code'],
      ['--frequency', 'daily', 'error: --frequency: must be weekly or monthly'],
      ['--invoice-empty', 'maybe', 'error: --invoice-empty must be yes, no or default'],
    ] as const) {
      const r = await runKeyplaneInProcess(['clients', 'payment', id, flag, value], { cwd });
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(message);
    }
    const both = await runKeyplaneInProcess(
      ['credentials', 'add', '--client', id, '--platform', '--provider', 'vultr', '--name', 'x'],
      { cwd, input: '{"apiKey":"k"}' },
    );
    expect(both.code).toBe(1);
    expect(both.stderr.trim()).toBe('error: use --client or --platform, not both');
  });

  it.each([
    ['migrate'],
    ['clients', 'list'],
    ['keys', 'list', '--client', 'cli_x'],
    ['usage'],
    ['invoices', 'list'],
    ['credentials', 'list', '--platform'],
  ])('bad configuration: keyplane %s … → 2', async (...args) => {
    const r = await runKeyplaneInProcess(args, {
      cwd: tempDir('kp-exit-'),
      env: { KEYPLANE_MODE: 'staging', KEYPLANE_PORT: 'eighty' },
    });
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines.every((l) => l.startsWith('config error: '))).toBe(true);
  });

  it('--help and --version exit 0 on stdout', async () => {
    const help = await runKeyplaneInProcess(['keys', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: keyplane keys');
    const version = await runKeyplaneInProcess(['--version']);
    expect(version).toMatchObject({ code: 0, stdout: '0.1.0\n', stderr: '' });
  });
});
