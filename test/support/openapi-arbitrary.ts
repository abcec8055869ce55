import fc from 'fast-check';

/**
 * fast-check arbitraries from an OpenAPI 3.1 document's JSON Schemas: values an operation's
 * schema accepts (extremes included: every bound is generated as is), and hostile values for
 * breaking them. Used by test/spec-fuzz.test.ts.
 */
export type Schema = {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  items?: Schema;
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  default?: unknown;
};

export type OpenApiDocument = {
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, Schema> };
};

export type Operation = {
  operationId?: string;
  security?: Array<Record<string, string[]>>;
  parameters?: Array<{ name: string; in: string; required?: boolean; schema?: Schema }>;
  requestBody?: { content?: Record<string, { schema?: Schema }> };
};

const SAFE = Number.MAX_SAFE_INTEGER;

function resolve(doc: OpenApiDocument, schema: Schema): Schema {
  let s = schema;
  for (let i = 0; s.$ref && i < 10; i++) {
    s = doc.components?.schemas?.[s.$ref.replace('#/components/schemas/', '')] ?? {};
  }
  return s;
}

function integers(s: Schema): fc.Arbitrary<number> {
  const lo = Math.max(s.minimum ?? -SAFE, (s.exclusiveMinimum ?? -SAFE - 1) + 1, -SAFE);
  const hi = Math.min(s.maximum ?? SAFE, (s.exclusiveMaximum ?? SAFE + 1) - 1, SAFE);
  const small = fc.integer({ min: Math.max(lo, -1000), max: Math.min(hi, Math.max(lo, 1000)) });
  const any = fc.bigInt({ min: BigInt(lo), max: BigInt(hi) }).map(Number);
  return fc.oneof(fc.constant(lo), fc.constant(hi), small, any);
}

function strings(s: Schema): fc.Arbitrary<string> {
  const min = s.minLength ?? 0;
  const max = Math.max(min, Math.min(s.maxLength ?? 40, 40));
  if (s.format === 'date-time') {
    return fc
      .date({ min: new Date('2001-01-01'), max: new Date('2099-12-31'), noInvalidDate: true })
      .map((d) => d.toISOString());
  }
  if (s.format === 'email') return fc.emailAddress();
  if (s.format === 'uri' || s.format === 'url') return fc.webUrl();
  if (s.pattern) {
    const re = new RegExp(s.pattern);
    return fc
      .stringMatching(re, { maxLength: Math.max(max, 20) })
      .filter((v) => v.length >= min && v.length <= (s.maxLength ?? Infinity));
  }
  const full =
    s.maxLength !== undefined
      ? [fc.string({ minLength: s.maxLength, maxLength: s.maxLength })]
      : [];
  return fc.oneof(fc.string({ minLength: min, maxLength: max }), ...full);
}

function objects(doc: OpenApiDocument, s: Schema, depth: number): fc.Arbitrary<unknown> {
  const props = s.properties ?? {};
  const names = Object.keys(props);
  if (!names.length && s.additionalProperties && s.additionalProperties !== true) {
    const value = valueOf(doc, s.additionalProperties, depth + 1);
    return fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }), value, { maxKeys: 3 });
  }
  if (!names.length) {
    return fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.jsonValue({ maxDepth: 1 }), {
      maxKeys: 2,
    });
  }
  const record: Record<string, fc.Arbitrary<unknown>> = {};
  for (const name of names) record[name] = valueOf(doc, props[name]!, depth + 1);
  return fc.record(record, { requiredKeys: (s.required ?? []).filter((r) => r in record) });
}

/** A value `schema` accepts. */
export function valueOf(doc: OpenApiDocument, schema: Schema, depth = 0): fc.Arbitrary<unknown> {
  const s = resolve(doc, schema);
  if (depth > 6) return fc.constant(null);
  if (s.const !== undefined) return fc.constant(s.const);
  if (s.enum) return fc.constantFrom(...s.enum);
  const union = s.anyOf ?? s.oneOf;
  if (union?.length) return fc.oneof(...union.map((u) => valueOf(doc, u, depth + 1)));
  if (s.allOf?.length) return valueOf(doc, s.allOf[0]!, depth + 1);
  if (Array.isArray(s.type)) {
    return fc.oneof(...s.type.map((type) => valueOf(doc, { ...s, type }, depth)));
  }
  switch (s.type) {
    case 'integer':
      return integers(s);
    case 'number': {
      const lo = s.minimum ?? -1e12;
      const hi = s.maximum ?? 1e12;
      return fc.oneof(
        fc.constant(lo),
        fc.constant(hi),
        fc.double({ min: lo, max: hi, noNaN: true, noDefaultInfinity: true }),
      );
    }
    case 'string':
      return strings(s);
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array':
      return fc.array(valueOf(doc, s.items ?? {}, depth + 1), {
        minLength: s.minItems ?? 0,
        maxLength: Math.max(s.minItems ?? 0, Math.min(s.maxItems ?? 3, 3)),
      });
    case 'object':
      return objects(doc, s, depth);
    default:
      return s.properties ? objects(doc, s, depth) : fc.jsonValue({ maxDepth: 2 });
  }
}

/** Values no schema of ours should ever turn into a 5xx: extremes, wrong types, odd text. */
export const HOSTILE_VALUES: unknown[] = [
  2 ** 53,
  -(2 ** 53),
  8.64e15,
  1e21,
  1e308,
  -1e308,
  -1,
  0,
  0.5,
  '',
  ' ',
  'x'.repeat(5000),
  '\u202e\u0301🙂',
  '../../etc/passwd',
  '1970-01-01T00:00:00Z',
  '+275760-09-13T00:00:00.000Z',
  '9999-99-99',
  null,
  true,
  [],
  [[[]]],
  {},
  JSON.parse(`{"__proto__": {"polluted": true}}`) as unknown,
  { constructor: { prototype: { polluted: true } } },
];

/** Query and path text no route should answer with a 5xx. */
export const HOSTILE_TEXT: string[] = [
  '-1',
  '0',
  '1e309',
  '99999999999999999999',
  '9007199254740993',
  'NaN',
  '',
  ' ',
  '..',
  '%2e%2e',
  '%ZZ',
  'x'.repeat(450),
  'ü🙂',
  '[]',
  '{}',
  'null',
  '2025-W99',
  '2025-13',
  '0000-00-00',
];
