import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { serializerCompiler } from './serializer.ts';

async function appWith(schema: z.ZodType, data: unknown) {
  const app = Fastify({ logger: false });
  app.setSerializerCompiler(serializerCompiler);
  app.get('/x', { schema: { response: { 200: schema } } }, async () => data);
  await app.ready();
  return app;
}

describe('response serializer', () => {
  it('writes only the declared properties, nested ones included', async () => {
    const schema = z.object({
      id: z.string(),
      client: z.object({ name: z.string() }),
      tags: z.array(z.object({ k: z.string() })),
      note: z.string().nullable(),
      meta: z.record(z.string(), z.unknown()),
    });
    const app = await appWith(schema, {
      id: 'key_1',
      keyHash: 'SECRET-HASH',
      client: { name: 'Acme', email: 'secret@acme.com' },
      tags: [{ k: 'a', secret: 'x' }],
      note: null,
      meta: { free: { form: true } },
    });
    const res = await app.inject('/x');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      id: 'key_1',
      client: { name: 'Acme' },
      tags: [{ k: 'a' }],
      note: null,
      meta: { free: { form: true } },
    });
    expect(res.body).not.toContain('SECRET');
    expect(res.body).not.toContain('secret');
    await app.close();
  });

  it('fails the response instead of answering a partial object', async () => {
    const app = await appWith(z.object({ id: z.string(), name: z.string() }), { id: 'x' });
    const res = await app.inject('/x');
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toContain('"id":"x"');
    await app.close();
  });

  it('keeps zod for what JSON Schema cannot express', async () => {
    const schema = z.object({ n: z.custom<number>((v) => typeof v === 'number') });
    const app = await appWith(schema, { n: 2, extra: 'no' });
    const res = await app.inject('/x');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ n: 2 });
    await app.close();
  });
});
