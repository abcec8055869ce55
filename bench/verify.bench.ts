import { createHash, hash } from 'node:crypto';
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import SQLite from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { Counter, Histogram, Registry } from 'prom-client';
import { benchSeconds, compare, startBareFastify, startKeyplane, type BenchResult } from './lib.ts';

export const description =
  'Authenticated GET /v1/health vs a bare Fastify route and vs a naive SQLite lookup+insert design; cached verifications per second in-process';

/**
 * The naive design issue 3 compares against: hash the key, look it up in SQLite, insert a usage
 * row, on every request — what seed 01/02's auth.py did, on SQLite's default settings (rollback
 * journal, a synced commit per insert), as an ORM-backed app gets them.
 */
function naiveRoutes(dbPath: string, key: string, tuned = false) {
  const db = new SQLite(dbPath);
  if (tuned) {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
  }
  db.exec(`create table api_keys (id integer primary key, client_id integer, key_hash text unique, is_active integer);
           create table clients (id integer primary key, name text);
           create table api_usage (id integer primary key, api_key_id integer, endpoint text, cost real, ts text)`);
  db.prepare('insert into clients (id, name) values (1, ?)').run('Bench Client');
  db.prepare('insert into api_keys (client_id, key_hash, is_active) values (1, ?, 1)').run(
    createHash('sha256').update(key).digest('hex'),
  );
  const find = db.prepare(
    'select k.id, c.id as client_id, c.name from api_keys k join clients c on c.id = k.client_id where k.key_hash = ? and k.is_active = 1',
  );
  const insert = db.prepare(
    'insert into api_usage (api_key_id, endpoint, cost, ts) values (?, ?, ?, ?)',
  );
  return (app: FastifyInstance) => {
    app.get('/v1/health', async (request, reply) => {
      const k = request.headers['x-api-key'];
      const row =
        typeof k === 'string'
          ? (find.get(createHash('sha256').update(k).digest('hex')) as
              { id: number; client_id: number; name: string } | undefined)
          : undefined;
      if (!row) return reply.code(401).send({ error: 'invalid' });
      insert.run(row.id, '/v1/health', 0.01, new Date().toISOString());
      return {
        status: 'ok',
        timestamp: new Date().toISOString(),
        client: { id: String(row.client_id), name: row.name },
      };
    });
    app.addHook('onClose', async () => db.close());
  };
}

/**
 * The floor issue 3's 0.85× target has to clear: bare Fastify plus only what every
 * authenticated, observable call needs — hash the key and find it in a Map, one access line
 * (a template string to a buffered /dev/null stream, as Keyplane writes it), a request counter
 * and a latency histogram (prom-client). No rate limit, metering, security headers, request id
 * or response validation.
 */
function floorRoutes(key: string, clientId: string) {
  const keys = new Map([[hash('sha256', key, 'hex'), { id: clientId, name: 'Bench Client' }]]);
  const out = pino.destination({ dest: '/dev/null', sync: false, minLength: 4096 });
  const registry = new Registry();
  const requests = new Counter({
    name: 'floor_requests_total',
    help: 'requests',
    labelNames: ['route', 'status'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'floor_duration_seconds',
    help: 'duration',
    labelNames: ['route'],
    registers: [registry],
  });
  return (app: FastifyInstance) => {
    app.decorateRequest('who', null);
    app.addHook('onRequest', (request, reply, done) => {
      const k = request.headers['x-api-key'];
      const who = typeof k === 'string' ? keys.get(hash('sha256', k, 'hex')) : undefined;
      if (!who) return void reply.code(401).send({ error: 'invalid' });
      (request as unknown as { who: typeof who }).who = who;
      done();
    });
    app.addHook('onResponse', (request, reply, done) => {
      requests.inc({ route: '/v1/health', status: String(reply.statusCode) });
      duration.observe({ route: '/v1/health' }, reply.elapsedTime / 1000);
      out.write(
        `{"level":30,"time":"${new Date().toISOString()}","requestId":"${request.id}","route":"/v1/health","status":${reply.statusCode},"durationMs":${reply.elapsedTime.toFixed(2)},"msg":"request"}\n`,
      );
      done();
    });
    app.get('/v1/health', async (request) => ({
      status: 'ok',
      timestamp: new Date().toISOString(),
      client: (request as unknown as { who: { id: string; name: string } }).who,
    }));
    app.addHook('onClose', async () => out.end());
  };
}

/** In-process: how many cached verifications one core does per second. */
async function microVerify(): Promise<BenchResult> {
  const kp = await startKeyplane();
  try {
    const { apiKey } = await kp.services.clients.create(
      { name: 'Micro', email: 'micro@example.com' },
      { type: 'system', id: 'bench' },
    );
    const keys = kp.services.keys;
    await keys.verify(apiKey);
    const seconds = Math.min(benchSeconds(4), 3);
    let n = 0;
    const end = performance.now() + seconds * 1000;
    while (performance.now() < end) {
      for (let i = 0; i < 1000; i++) await keys.verify(apiKey, { ip: '127.0.0.1' });
      n += 1000;
    }
    const perSecond = n / seconds;
    return {
      name: 'cached keys.verify (in-process, one core)',
      value: perSecond,
      unit: 'ops/s',
      target: '≥ 300,000 ops/s',
    };
  } finally {
    await kp.close();
  }
}

async function httpBench(): Promise<BenchResult[]> {
  const kp = await startKeyplane();
  const { apiKey, client } = await kp.services.clients.create(
    { name: 'Bench Client', email: 'bench@example.com' },
    { type: 'system', id: 'bench' },
  );
  const same = { status: 'ok', timestamp: '', client: { id: client.id, name: client.name } };
  const bare = await startBareFastify((app) => {
    app.get('/v1/health', async () => ({ ...same, timestamp: new Date().toISOString() }));
  });
  const dir = mkdtempSync(join(tmpdir(), 'kp-naive-'));
  const naive = await startBareFastify(naiveRoutes(join(dir, 'naive.db'), apiKey));
  const tuned = await startBareFastify(naiveRoutes(join(dir, 'tuned.db'), apiKey, true));
  const floor = await startBareFastify(floorRoutes(apiKey, client.id));
  const headers = { 'x-api-key': apiKey };
  try {
    const http = await compare({
      baseline: { name: 'bare fastify GET /v1/health (same JSON)', url: `${bare.url}/v1/health` },
      candidates: [
        {
          name: 'keyplane GET /v1/health (valid key)',
          url: `${kp.url}/v1/health`,
          options: { headers },
          target: '≥ 0.85× bare',
        },
        {
          name: 'floor: key lookup, access line, 2 metrics',
          url: `${floor.url}/v1/health`,
          options: { headers },
        },
        {
          name: 'naive: SQLite lookup + usage insert per call',
          url: `${naive.url}/v1/health`,
          options: { headers },
        },
        {
          name: 'naive, tuned (WAL, synchronous=NORMAL)',
          url: `${tuned.url}/v1/health`,
          options: { headers },
        },
      ],
      rounds: 3,
      seconds: benchSeconds(4),
    });
    const kpResult = http.find((r) => r.name.startsWith('keyplane'))!;
    const naiveResult = http.find((r) => r.name.startsWith('naive'))!;
    const vsNaive: BenchResult = {
      name: 'keyplane GET /v1/health vs naive design',
      value: kpResult.value,
      unit: 'req/s',
      baseline: { name: 'naive', value: naiveResult.value },
      ratio: kpResult.ratio! / naiveResult.ratio!,
      target: '≥ 2× naive',
    };
    const tunedResult = http.find((r) => r.name.startsWith('naive, tuned'))!;
    const vsTuned: BenchResult = {
      name: 'keyplane GET /v1/health vs naive tuned',
      value: kpResult.value,
      unit: 'req/s',
      baseline: { name: 'naive tuned', value: tunedResult.value },
      ratio: kpResult.ratio! / tunedResult.ratio!,
    };
    return [...http, vsNaive, vsTuned];
  } finally {
    await naive.close();
    await tuned.close();
    await floor.close();
    rmSync(dir, { recursive: true, force: true });
    await bare.close();
    await kp.close();
  }
}

export async function run(): Promise<BenchResult[]> {
  return [...(await httpBench()), await microVerify()];
}
