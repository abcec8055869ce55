import { spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKeyplane, type ServeProcess } from './support/keyplane-process.ts';

const promtool = spawnSync('promtool', ['--version']).status === 0;
if (!promtool && process.env.CI === 'true') throw new Error('CI=true and promtool is missing');

/** A request with any method llhttp accepts (fetch refuses most of these). */
function send(url: string, method: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * `/metrics` of a real `keyplane serve` (default collectors on, no Redis), checked by the tool
 * Prometheus operators run: `promtool check metrics` (Debian's prometheus package).
 */
describe.skipIf(!promtool)('GET /metrics under promtool', () => {
  let serve: ServeProcess;
  let text: string;

  beforeAll(async () => {
    serve = await startKeyplane({ env: { KEYPLANE_METRICS_PUBLIC: 'true' } });
    for (const method of ['GET', 'PROPFIND', 'MKCOL', 'SEARCH', 'PURGE', 'LOCK', 'PATCH']) {
      expect(await send(`${serve.url}/no/such/route/${method}`, method)).toBe(404);
    }
    await send(`${serve.url}/healthz`, 'GET');
    text = await (await fetch(`${serve.url}/metrics`)).text();
  });
  afterAll(async () => {
    await serve?.stop();
  });

  it('passes promtool check metrics with no lint problem', () => {
    expect(text).toContain('keyplane_nodejs_active_handles_all');
    const run = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(`${run.stdout}${run.stderr}`).toBe('');
    expect(run.status).toBe(0);
  });

  it('exports keyplane_ratelimit_degraded as 0 without Redis', () => {
    expect(text).toMatch(/^keyplane_ratelimit_degraded 0$/m);
  });

  it('labels unmatched requests with a bounded set of methods', () => {
    const methods = new Set(
      [...text.matchAll(/^keyplane_http_requests_total\{method="([^"]+)",route="unmatched"/gm)].map(
        (m) => m[1],
      ),
    );
    expect([...methods].sort()).toEqual(['GET', 'PATCH', 'other']);
    expect(text).toMatch(/keyplane_http_requests_total\{method="GET",route="\/healthz"/);
  });
});
