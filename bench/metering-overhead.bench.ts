import { createUsageStore } from '../src/usage/usage-store.ts';
import {
  benchSeconds,
  compare,
  startKeyplane,
  type BenchResult,
  type RunningKeyplane,
} from './lib.ts';

export const description =
  'Cost of metering on the authenticated hot path: GET /v1/health with metering on vs off (same server code, SQLite)';

/**
 * Four real Keyplanes in this process, identical but for metering: in two of them the usage
 * hook's `record` does nothing. The ratio on/off is what metering costs the hot path (target
 * ≥ 0.95: no more than 5%), flushes to SQLite included.
 *
 * A 5% effect needs a fine ruler. Servers started earlier in the same process measured a few
 * percent slower than identical ones started later (two metering servers read 0.965, two
 * non-metering ones 0.985), so the servers start in the order on, off, off, on and each side is
 * the sum of its two: the start-order effect cancels. The off/off pair is reported as the ruler's
 * own error, and many short alternating rounds keep the machine's drift out.
 */
export async function run(): Promise<BenchResult[]> {
  const order = ['on', 'off', 'off', 'on'] as const;
  const servers: Array<RunningKeyplane & { apiKey: string; clientId: string }> = [];
  try {
    for (const [i, kind] of order.entries()) {
      const kp = await startKeyplane();
      const { apiKey, client } = await kp.services.clients.create(
        { name: `Bench ${i}`, email: `bench${i}@example.com` },
        { type: 'system', id: 'bench' },
      );
      if (kind === 'off') kp.services.usage.record = () => undefined;
      servers.push(Object.assign(kp, { apiKey, clientId: client.id }));
    }
    const target = (i: number) => ({
      name: `GET /v1/health, metering ${order[i]} (${i + 1} of 4)`,
      url: `${servers[i]!.url}/v1/health`,
      options: { headers: { 'x-api-key': servers[i]!.apiKey } },
    });
    const results = await compare({
      baseline: target(1),
      candidates: [target(0), target(2), target(3)],
      rounds: 10,
      seconds: benchSeconds(2),
    });
    const [off1, on1, off2, on2] = results as [BenchResult, BenchResult, BenchResult, BenchResult];
    let metered = 0;
    for (const i of [0, 3]) {
      const kp = servers[i]!;
      await kp.services.usage.flush();
      metered += (await createUsageStore(kp.services.store.db).countEvents(kp.clientId)).calls;
    }
    const onValue = (on1.value + on2.value) / 2;
    const offValue = (off1.value + off2.value) / 2;
    return [
      { name: 'GET /v1/health, metering off (2 servers)', value: offValue, unit: 'req/s' },
      {
        name: 'GET /v1/health, metering on (2 servers)',
        value: onValue,
        unit: 'req/s',
        baseline: { name: 'metering off', value: offValue },
        ratio: (on1.ratio! + on2.ratio!) / (1 + off2.ratio!),
        target: '≥ 0.95× off',
        note: `${metered.toLocaleString('en-US')} calls metered; ruler error (off vs off): ${off2.ratio!.toFixed(3)}; on servers ${on1.ratio!.toFixed(3)} and ${on2.ratio!.toFixed(3)} of the first off`,
      },
    ];
  } finally {
    for (const kp of servers) await kp.close();
  }
}
