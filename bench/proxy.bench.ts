import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchSeconds, compare, seedGeminiClient, startKeyplane, type BenchResult } from './lib.ts';

export const description =
  'Upstream proxy: GET /v1/proxy/gemini/… (key check, audited credential resolve, upstream call over loopback, streamed and scrubbed answer) vs the upstream called directly and vs an authenticated /v1/health';

/** A provider stand-in: a small JSON answer, as fast as Node answers. */
async function startUpstream() {
  const body = JSON.stringify({
    models: [{ name: 'models/gemini-2.0-flash' }],
    pad: 'x'.repeat(400),
  });
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  return {
    url,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export async function run(): Promise<BenchResult[]> {
  const seconds = Math.min(benchSeconds(4), 3);
  const upstream = await startUpstream();
  const dir = mkdtempSync(join(tmpdir(), 'kp-bench-proxy-'));
  const configFile = join(dir, 'keyplane.config.json');
  writeFileSync(
    configFile,
    JSON.stringify({ providers: { gemini: { baseUrl: `${upstream.url}/gemini` } } }),
  );
  const kp = await startKeyplane({ env: { KEYPLANE_CONFIG: configFile } });
  try {
    const { apiKey } = await seedGeminiClient(kp);
    const headers = { 'x-api-key': apiKey };
    return await compare({
      baseline: { name: 'upstream directly', url: `${upstream.url}/gemini/v1beta/models` },
      candidates: [
        {
          name: 'GET /v1/health (client key)',
          url: `${kp.url}/v1/health`,
          options: { headers },
        },
        {
          name: 'GET /v1/proxy/gemini/v1beta/models',
          url: `${kp.url}/v1/proxy/gemini/v1beta/models`,
          options: { headers },
        },
      ],
      rounds: 2,
      seconds,
    });
  } finally {
    await kp.close();
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
