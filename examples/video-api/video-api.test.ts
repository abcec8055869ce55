import type { AddressInfo } from 'node:net';
import { Keyplane } from '@keyplane/sdk';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestKeyplane, type TestKeyplane } from '../../sdk/test-support/keyplane.ts';
import { ENGINES } from '../../test/support/stores.ts';
import { buildVideoApi, type VideoApi } from './src/app.ts';

/** The fields the tests read; the rest is compared whole. */
type Answer = Record<string, unknown> & {
  error: { code: string };
  buffer_size: number;
  analysis: string;
};

/**
 * Seed 01/02 end to end: a real Keyplane (with seed 02's price book) and the video API on the
 * SDK, both on loopback; clients hold nothing but their API key.
 */
describe.each(ENGINES)('video API on the SDK (%s)', (engine) => {
  let kp: TestKeyplane;
  let admin: Keyplane;
  let api: VideoApi;
  let url: string;
  const MAX_FRAME = 4096;
  const BUDGET = 96 * 1024;

  const call = async (apiKey: string | null, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: {
        ...(apiKey ? { 'x-api-key': apiKey } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Answer };
  };
  const frame = (bytes: number, fill: number) => Buffer.alloc(bytes, fill).toString('base64');
  const newClient = async (name: string) => {
    const created = await admin.clients.create({ name, email: `${name}@example.test` });
    return { id: created.client.id, apiKey: created.apiKey };
  };
  /** Everything the API buffered reaches Keyplane, and Keyplane has written it. */
  const settle = async () => {
    await api.reporter.flush();
    await kp.services.usage.flush();
  };
  const usageOf = async (clientId: string) => {
    await settle();
    const u = await admin.usage.query({ clientId, groupBy: 'endpoint' });
    return Object.fromEntries(u.groups.map((g) => [g.group, [g.calls, g.cost]]));
  };

  // Each test its own Keyplane and API: no test sees another's clients, usage or buffered frames.
  beforeEach(async () => {
    kp = await startTestKeyplane(engine);
    admin = new Keyplane({ baseUrl: kp.url, adminToken: kp.adminToken });
    api = buildVideoApi({
      keyplaneUrl: kp.url,
      adminToken: await kp.adminTokenWith(['verify', 'usage:write']),
      frames: { maxFrameBytes: MAX_FRAME, maxTotalBytes: BUDGET },
      reportIntervalMs: 50,
    });
    await api.app.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(api.app.server.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    await api?.app.close();
    await kp?.close();
  });

  it('refuses calls without a valid key (401) and meters none of them', async () => {
    expect((await call(null, 'GET', '/api/health')).status).toBe(401);
    const bad = await call('kp_live_nope', 'POST', '/api/video/buffer', {
      frame_data: frame(10, 1),
      frame_count: 1,
    });
    expect(bad.status).toBe(401);
    expect(bad.body.error.code).toBe('unauthorized');
    await settle();
    expect((await admin.usage.query({ groupBy: 'endpoint' })).totals.calls).toBe(0);
  });

  it('gives each client its own buffer; analysis sees only its own frames', async () => {
    const acme = await newClient('acme');
    const techco = await newClient('techco');
    for (let i = 1; i <= 3; i++) {
      const r = await call(acme.apiKey, 'POST', '/api/video/buffer', {
        frame_data: frame(256, 7),
        frame_count: i,
      });
      expect(r).toEqual({
        status: 200,
        body: { status: 'buffered', frame_count: i, buffer_size: i },
      });
    }
    for (let i = 1; i <= 5; i++) {
      const r = await call(techco.apiKey, 'POST', '/api/video/buffer', {
        frame_data: frame(256, i % 2 ? 0 : 255),
        frame_count: i,
      });
      expect(r.body.buffer_size).toBe(i);
    }
    const acmeHealth = await call(acme.apiKey, 'GET', '/api/health');
    expect(acmeHealth.body).toMatchObject({
      status: 'ok',
      client: { id: acme.id },
      buffer_size: 3,
    });
    expect((await call(techco.apiKey, 'GET', '/api/health')).body.buffer_size).toBe(5);

    const a = await call(acme.apiKey, 'POST', '/api/video/analyze');
    expect(a.body).toMatchObject({ status: 'analyzed', frames_analyzed: 3, risk_level: 'LOW' });
    const t = await call(techco.apiKey, 'POST', '/api/video/analyze');
    expect(t.body).toMatchObject({
      frames_analyzed: 5,
      risk_level: 'HIGH',
      incident_detected: true,
    });

    const alert = await call(techco.apiKey, 'POST', '/api/alert', {
      analysis: t.body.analysis,
      risk_level: 'HIGH',
    });
    expect(alert.body).toMatchObject({ status: 'alert_sent', risk_level: 'HIGH' });

    // Exactly the calls made, at the price book's prices (health is not priced).
    expect(await usageOf(acme.id)).toEqual({
      'POST /api/video/buffer': [3, '0.03'],
      'GET /api/health': [1, '0.00'],
      'POST /api/video/analyze': [1, '0.05'],
    });
    expect(await usageOf(techco.id)).toEqual({
      'POST /api/video/buffer': [5, '0.05'],
      'GET /api/health': [1, '0.00'],
      'POST /api/video/analyze': [1, '0.05'],
      'POST /api/alert': [1, '0.10'],
    });
    const acmeOwn = await admin.withApiKey(acme.apiKey).client.usage({ groupBy: 'endpoint' });
    expect(acmeOwn.totals.cost).toBe('0.08');
  });

  it('refuses an oversized frame with 413 and bad bodies with 400, in the envelope', async () => {
    const c = await newClient('sloppy');
    const big = await call(c.apiKey, 'POST', '/api/video/buffer', {
      frame_data: frame(MAX_FRAME + 1, 1),
      frame_count: 1,
    });
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe('payload_too_large');
    const huge = await call(c.apiKey, 'POST', '/api/video/buffer', {
      frame_data: frame(MAX_FRAME * 4, 1),
    });
    expect(huge.status).toBe(413);
    const invalid = await call(c.apiKey, 'POST', '/api/alert', {
      analysis: 'x',
      risk_level: 'MEH',
    });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error.code).toBe('validation_failed');
    const empty = await call(c.apiKey, 'POST', '/api/video/analyze');
    expect(empty.status).toBe(409);
    expect((await call(c.apiKey, 'GET', '/api/health')).body.buffer_size).toBe(0);
  });

  it('holds the memory budget across many clients; an evicted client only loses its own frames', async () => {
    const clients = [];
    for (let i = 0; i < 12; i++) clients.push(await newClient(`crowd${i}`));
    let peak = 0;
    for (const c of clients) {
      for (let f = 1; f <= 8; f++) {
        const r = await call(c.apiKey, 'POST', '/api/video/buffer', {
          frame_data: frame(2048, f),
          frame_count: f,
        });
        expect(r.status).toBe(200);
        peak = Math.max(peak, api.frames.totalBytes);
      }
    }
    expect(peak).toBeLessThanOrEqual(BUDGET);
    expect(api.frames.evictions).toBeGreaterThan(0);
    // The newest client keeps everything; the oldest was dropped to make room.
    expect((await call(clients[11]!.apiKey, 'GET', '/api/health')).body.buffer_size).toBe(8);
    expect((await call(clients[0]!.apiKey, 'GET', '/api/health')).body.buffer_size).toBe(0);
    expect(await usageOf(clients[0]!.id)).toEqual({
      'POST /api/video/buffer': [8, '0.08'],
      'GET /api/health': [1, '0.00'],
    });
  });

  it('stops a revoked client once the verification cache expires', async () => {
    const c = await newClient('leaver');
    expect((await call(c.apiKey, 'GET', '/api/health')).status).toBe(200);
    await admin.clients.suspend(c.id);
    api.verifier.clear(); // the operator's restart, or waiting out the 5 s TTL
    const r = await call(c.apiKey, 'GET', '/api/health');
    expect(r.status).toBe(403);
    expect(r.body.error.code).toBe('client_suspended');
  });
});
