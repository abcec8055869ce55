import { benchSeconds, compare, startBareFastify, startKeyplane, type BenchResult } from './lib.ts';

export const description =
  'GET /healthz on a real Keyplane (SQLite, production logging) vs a bare Fastify route, same run';

/**
 * The floor of Keyplane's per-request overhead: hooks (request id, security headers), the
 * metrics and the per-request log line, zod response serialization. Both servers live in this
 * process; autocannon runs in a worker thread, and the two are measured in alternation.
 */
export async function run(): Promise<BenchResult[]> {
  const bare = await startBareFastify();
  const keyplane = await startKeyplane();
  try {
    return await compare({
      baseline: { name: 'bare fastify GET /healthz', url: `${bare.url}/healthz` },
      candidates: [{ name: 'keyplane GET /healthz', url: `${keyplane.url}/healthz` }],
      rounds: 3,
      seconds: benchSeconds(4),
    });
  } finally {
    await keyplane.close();
    await bare.close();
  }
}
