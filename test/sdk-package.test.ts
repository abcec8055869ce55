import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..');
const SDK = join(ROOT, 'sdk');
const ENTRIES = ['.', './fastify', './express', './hono'];

/** npm's own environment from `npm test` (workspace, prefix…) must not steer the nested npm. */
const cleanEnv = () =>
  Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));

/**
 * @keyplane/sdk as an outside user gets it: `npm pack` (which builds it), the tarball installed
 * into a fresh directory with no network, a plain `node` script importing every entry, and
 * `tsc --noEmit` (module nodenext, no allowImportingTsExtensions, no skipLibCheck) against it.
 */
describe('the packed @keyplane/sdk', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kp-sdk-pack-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it(
    'installs from its tarball, runs under plain node and type-checks under tsc',
    { timeout: 120_000 },
    async () => {
      const packed = await run('npm', ['pack', '--json', '--pack-destination', dir], {
        cwd: SDK,
        env: cleanEnv(),
        maxBuffer: 16 * 1024 * 1024,
      });
      const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as Array<{
        filename: string;
        files: Array<{ path: string }>;
      }>;
      const files = info!.files.map((f) => f.path);
      expect(files.filter((f) => /\.test\.|test-support|^src\//.test(f))).toEqual([]);
      for (const name of ['index', 'fastify', 'express', 'hono']) {
        expect(files).toEqual(expect.arrayContaining([`dist/${name}.js`, `dist/${name}.d.ts`]));
      }

      const app = join(dir, 'app');
      mkdirSync(app);
      writeFileSync(
        join(app, 'package.json'),
        '{"name":"consumer","private":true,"type":"module"}',
      );
      await run(
        'npm',
        ['install', '--offline', '--no-audit', '--no-fund', join(dir, info!.filename)],
        { cwd: app, env: cleanEnv() },
      );
      const manifest = JSON.parse(
        readFileSync(join(app, 'node_modules/@keyplane/sdk/package.json'), 'utf8'),
      ) as { private?: boolean; dependencies?: object; exports: Record<string, { types: string }> };
      expect(manifest.private).toBeUndefined();
      expect(manifest.dependencies ?? {}).toEqual({});
      expect(Object.keys(manifest.exports)).toEqual(ENTRIES);
      for (const entry of ENTRIES) expect(manifest.exports[entry]!.types).toMatch(/\.d\.ts$/);

      writeFileSync(join(app, 'smoke.mjs'), SMOKE);
      const smoke = await run(process.execPath, ['smoke.mjs'], { cwd: app });
      expect(JSON.parse(smoke.stdout)).toEqual({
        root: expect.arrayContaining(['Keyplane', 'KeyVerifier', 'UsageReporter', 'verifyWebhook']),
        fastify: ['keyplaneFastify'],
        express: ['keyplaneExpress'],
        hono: ['keyplaneHono'],
        webhook: 'key.created',
      });

      // The user's framework types, as they would have them installed (the SDK needs none at runtime).
      mkdirSync(join(app, 'node_modules/@types'), { recursive: true });
      for (const pkg of ['fastify', 'hono', '@types/express', '@types/node']) {
        symlinkSync(join(ROOT, 'node_modules', pkg), join(app, 'node_modules', pkg));
      }
      writeFileSync(join(app, 'consumer.ts'), CONSUMER);
      writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(TSCONFIG));
      const tsc = await run(join(ROOT, 'node_modules/.bin/tsc'), ['-p', app]).catch(
        (err: { stdout?: string }) => err,
      );
      expect(tsc.stdout ?? '').toBe('');
    },
  );
});

const TSCONFIG = {
  compilerOptions: { target: 'es2022', module: 'nodenext', strict: true, noEmit: true },
  files: ['consumer.ts'],
};

const SMOKE = `import { createHmac } from 'node:crypto';
const root = await import('@keyplane/sdk');
const fastify = await import('@keyplane/sdk/fastify');
const express = await import('@keyplane/sdk/express');
const hono = await import('@keyplane/sdk/hono');
const secret = 'whsec_' + Buffer.from('a-webhook-secret-of-32-bytes-ok!').toString('base64');
const body = JSON.stringify({ type: 'key.created', timestamp: new Date().toISOString(), data: {} });
const id = 'msg_1';
const ts = String(Math.floor(Date.now() / 1000));
const sig = createHmac('sha256', Buffer.from(secret.slice(6), 'base64')).update(id + '.' + ts + '.' + body).digest('base64');
const event = root.verifyWebhook(body, { 'webhook-id': id, 'webhook-timestamp': ts, 'webhook-signature': 'v1,' + sig }, secret);
new root.Keyplane({ baseUrl: 'http://127.0.0.1:1', adminToken: 'kpadm_x' });
console.log(JSON.stringify({
  root: Object.keys(root), fastify: Object.keys(fastify), express: Object.keys(express),
  hono: Object.keys(hono), webhook: event.type,
}));
`;

const CONSUMER = `import { Keyplane, KeyplaneError, KeyVerifier, UsageReporter, verifyWebhook } from '@keyplane/sdk';
import { keyplaneFastify } from '@keyplane/sdk/fastify';
import { keyplaneExpress } from '@keyplane/sdk/express';
import { keyplaneHono } from '@keyplane/sdk/hono';

const baseUrl = 'http://127.0.0.1:8080';
const kp = new Keyplane({ baseUrl, adminToken: 'kpadm_x' });
const verifier = new KeyVerifier({ baseUrl, adminToken: 'kpadm_x' });
const report = new UsageReporter({ baseUrl, adminToken: 'kpadm_x' });
export async function created(): Promise<string> {
  const { client } = await kp.clients.create({ name: 'Acme', email: 'a@acme.example' });
  return client.id;
}
export const handlers = [
  keyplaneFastify({ verifier, report }),
  keyplaneExpress({ verifier }),
  keyplaneHono({ verifier }),
];
export const isError = (e: unknown): e is KeyplaneError => e instanceof KeyplaneError;
export const check = (body: string, headers: Record<string, string>) =>
  verifyWebhook(body, headers, 'whsec_x').type;
`;
