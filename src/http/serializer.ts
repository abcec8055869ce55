import fastJson from 'fast-json-stringify';
import type { FastifySerializerCompiler } from 'fastify';
import { serializerCompiler as zodSerializerCompiler } from 'fastify-type-provider-zod';
import { z } from 'zod';

/**
 * Response serialization from each route's zod response schema, compiled once per route and
 * status into a fast-json-stringify function: only the declared properties are written (an
 * undeclared field on a record, say a key hash, can never leak into a response), and a missing
 * required one fails the response (500) instead of answering a partial object.
 *
 * fastify-type-provider-zod's own serializer runs zod's encode over the whole response and then
 * JSON.stringify: the same guarantees at about 1.3 µs and a copied object tree per small
 * response, which on the authenticated hot path was the largest single cost after the socket
 * writes (see the README's Benchmarks). A schema JSON Schema cannot express (a transform, a
 * custom check) keeps zod's serializer.
 */
type Serialize = (data: unknown) => string;

/**
 * Compiled serializers, by zod schema and by the JSON Schema it converts to. fast-json-stringify
 * writes and compiles a function per schema (most of the cost of `app.ready()`): the shared error
 * schemas appear on every route, and every app built in one process (each test's own server, say)
 * declares the same responses again. The compiled function depends on the JSON Schema alone, so
 * one schema compiles once.
 */
const bySchema = new WeakMap<z.ZodType, Serialize>();
const byJsonSchema = new Map<string, Serialize>();

export const serializerCompiler: FastifySerializerCompiler<z.ZodType> = (route) => {
  const known = bySchema.get(route.schema);
  if (known) return known;
  const serialize = compile(route);
  bySchema.set(route.schema, serialize);
  return serialize;
};

function compile(route: Parameters<FastifySerializerCompiler<z.ZodType>>[0]): Serialize {
  let json: unknown;
  try {
    json = z.toJSONSchema(route.schema, {
      io: 'output',
      target: 'draft-7',
      unrepresentable: 'throw',
    });
  } catch {
    return zodSerializerCompiler(route as Parameters<typeof zodSerializerCompiler>[0]);
  }
  const key = JSON.stringify(json);
  let serialize = byJsonSchema.get(key);
  if (!serialize) {
    const stringify = fastJson(json as fastJson.AnySchema);
    serialize = (data: unknown) => stringify(data);
    byJsonSchema.set(key, serialize);
  }
  return serialize;
}
