import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/**
 * One schema for the whole configuration: environment variables (`KEYPLANE_*`) over an optional
 * `keyplane.config.json|yaml` file. Parsed once at start and passed down; no service reads
 * `process.env` itself.
 */
const bool = z
  .union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no'])])
  .transform((v) => v === true || v === 'true' || v === '1' || v === 'yes');

const port = z.coerce
  .number({ message: 'must be a number' })
  .int('must be a whole number')
  .min(0, 'must be between 0 and 65535')
  .max(65535, 'must be between 0 and 65535');

const price = z.union([
  z.number().nonnegative('must not be negative'),
  z.string().regex(/^\d+(\.\d{1,6})?$/, 'must be a decimal like "0.05" (at most 6 decimals)'),
]);

const rateLimitSetting = z
  .object({
    limit: z.number().int('must be a whole number').positive('must be positive'),
    windowSeconds: z.number().int('must be a whole number').positive('must be positive'),
  })
  .strict();

/** Rate-limit defaults: per tier, an overall default, and extra per-endpoint windows (per key). */
export const rateLimitsConfigSchema = z
  .object({
    default: rateLimitSetting.optional(),
    tiers: z.record(z.string(), rateLimitSetting).default({}),
    endpoints: z.record(z.string(), rateLimitSetting).default({}),
  })
  .strict();

export const providerConfigSchema = z.object({
  baseUrl: z.url('must be a URL').optional(),
  authHeader: z.string().optional(),
  policy: z.enum(['byok', 'platform', 'byok_then_platform']).optional(),
  timeoutMs: z.coerce.number().int().positive().optional(),
  /** The proxy's connections to the provider's origin, kept alive and reused (default 64). */
  maxConnections: z.coerce.number().int().positive().max(4096).optional(),
  /** Verification calls: extra attempts on transient failures (seed 05's MAX_RETRIES). */
  maxRetries: z.coerce.number().int().min(0).max(10).optional(),
  /** First backoff step; doubles per attempt, with jitter (seed 05's RETRY_BACKOFF_MS). */
  retryBackoffMs: z.coerce.number().int().positive().optional(),
  /** Consecutive transient failures that open the provider's circuit. */
  circuitBreakerThreshold: z.coerce.number().int().positive().optional(),
  /** How long an open circuit refuses calls (seed 05's CIRCUIT_BREAKER_TIMEOUT). */
  circuitBreakerCooldownMs: z.coerce.number().int().positive().optional(),
});

/** Leaked keys (src/leaks/): secret scanning partners, the default policy, replay and size bounds. */
export const leaksConfigSchema = z
  .object({
    /** What a report does to a client's key unless the client has its own policy. */
    policy: z.enum(['revoke', 'roll', 'notify']).default('revoke'),
    /** Where the operator's copy of every exposure email goes (else billing.operator.email). */
    operatorEmail: z.string().optional(),
    /** Largest report body accepted (413 above it). */
    maxBodyBytes: z.coerce.number().int().min(1024).max(1_048_576).default(262_144),
    /** Most tokens in one report. */
    maxTokens: z.coerce.number().int().positive().max(10_000).default(1000),
    /** A signature already accepted is refused as a replay for this long. */
    replayWindowSeconds: z.coerce.number().int().positive().default(86_400),
    github: z
      .object({
        publicKeysUrl: z
          .url('must be a URL')
          .default('https://api.github.com/meta/public_keys/secret_scanning'),
        /** Inline keys (tests, air-gapped installs): used instead of fetching publicKeysUrl. */
        publicKeys: z
          .array(z.object({ keyIdentifier: z.string().min(1), key: z.string().min(1) }).strict())
          .optional(),
        cacheSeconds: z.coerce.number().int().positive().default(3600),
      })
      .strict()
      .default({
        publicKeysUrl: 'https://api.github.com/meta/public_keys/secret_scanning',
        cacheSeconds: 3600,
      }),
    gitlab: z
      .object({
        /** The shared secret GitLab sends in Authorization (its token_revocation_token). */
        token: z.string().min(16, 'must be at least 16 characters').optional(),
        /** The `type` values accepted (GET …/revocable_token_types answers them). */
        tokenTypes: z.array(z.string().min(1)).default(['gitleaks_rule_id_keyplane_api_key']),
      })
      .strict()
      .default({ tokenTypes: ['gitleaks_rule_id_keyplane_api_key'] }),
  })
  .strict();

export type LeaksConfig = z.output<typeof leaksConfigSchema>;

export const configSchema = z
  .object({
    dataDir: z.string().min(1).default('./data'),
    databaseUrl: z
      .string()
      .regex(/^(sqlite:.+|postgres(ql)?:\/\/.+)$/, 'must be sqlite:PATH or postgres://…')
      .optional(),
    redisUrl: z
      .string()
      .regex(/^rediss?:\/\/.+/, 'must be redis://…')
      .optional(),
    masterKey: z.string().optional(),
    masterKeys: z.string().optional(),
    port: port.default(8080),
    host: z.string().min(1).default('127.0.0.1'),
    keyPrefix: z
      .string()
      .regex(/^[a-z0-9]{1,16}$/, 'must be 1-16 lowercase letters or digits')
      .default('kp'),
    mode: z.enum(['production', 'development']).default('production'),
    smtpUrl: z
      .string()
      .regex(/^smtps?:\/\/.+/, 'must be smtp://… or smtps://…')
      .optional(),
    mailFrom: z.string().optional(),
    trustProxy: bool.default(false),
    metricsPublic: bool.default(false),
    logLevel: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
      .default('info'),
    shutdownTimeoutMs: z.coerce.number().int().positive().default(10_000),
    pricing: z.record(z.string(), price).default({}),
    rateLimits: rateLimitsConfigSchema.default({ tiers: {}, endpoints: {} }),
    currency: z
      .string()
      .regex(/^[A-Z]{3}$/, 'must be a 3-letter ISO currency code')
      .default('EUR'),
    providers: z.record(z.string(), providerConfigSchema).default({}),
    billing: z
      .object({
        /** `weekly`: `keyplane serve` invoices each completed week (and month); `off`: by hand only. */
        schedule: z.enum(['weekly', 'off']).default('weekly'),
        invoiceEmptyClients: bool.default(false),
        /** Email invoices as the scheduled run issues them (needs KEYPLANE_SMTP_URL). */
        send: bool.default(true),
        /** Wait after a period ends before invoicing it, so late usage is flushed in. */
        runAfterMinutes: z.coerce.number().int().min(0).default(60),
        /** Fractions allowed (down to 0.05 s), for a test that waits on the scheduler. */
        checkIntervalSeconds: z.coerce.number().min(0.05).default(300),
        /** Wait before a send's second try (doubling, 3 tries in one send). */
        sendBackoffMs: z.coerce.number().int().min(0).default(500),
        operator: z
          .object({
            name: z.string().default('Keyplane operator'),
            address: z.string().optional(),
            email: z.string().optional(),
            vatId: z.string().optional(),
          })
          .default({ name: 'Keyplane operator' }),
      })
      .default({
        schedule: 'weekly',
        invoiceEmptyClients: false,
        send: true,
        runAfterMinutes: 60,
        checkIntervalSeconds: 300,
        sendBackoffMs: 500,
        operator: { name: 'Keyplane operator' },
      }),
    leaks: leaksConfigSchema.default(() => leaksConfigSchema.parse({})),
    webhooks: z
      .object({
        /** `false`: this node serves the API and writes the outbox but sends no webhook. */
        dispatch: bool.default(true),
      })
      .strict()
      .default({ dispatch: true }),
    budgets: z
      .object({
        /** A reservation made through POST /admin/v1/verify not reported by then is released. */
        reservationTimeoutSeconds: z.coerce.number().int().positive().default(300),
      })
      .strict()
      .default({ reservationTimeoutSeconds: 300 }),
  })
  .strict();

export type Config = z.output<typeof configSchema> & { databaseUrl: string };

/** Environment variable → config field. */
const ENV_FIELDS: Record<string, keyof z.input<typeof configSchema>> = {
  KEYPLANE_DATA_DIR: 'dataDir',
  KEYPLANE_DATABASE_URL: 'databaseUrl',
  KEYPLANE_REDIS_URL: 'redisUrl',
  KEYPLANE_MASTER_KEY: 'masterKey',
  KEYPLANE_MASTER_KEYS: 'masterKeys',
  KEYPLANE_PORT: 'port',
  KEYPLANE_HOST: 'host',
  KEYPLANE_KEY_PREFIX: 'keyPrefix',
  KEYPLANE_MODE: 'mode',
  KEYPLANE_SMTP_URL: 'smtpUrl',
  KEYPLANE_MAIL_FROM: 'mailFrom',
  KEYPLANE_TRUST_PROXY: 'trustProxy',
  KEYPLANE_METRICS_PUBLIC: 'metricsPublic',
  KEYPLANE_LOG_LEVEL: 'logLevel',
  KEYPLANE_CURRENCY: 'currency',
};

/** The documented variables, for the README table and `--help`. */
export const ENV_VARIABLES = Object.keys(ENV_FIELDS).concat('KEYPLANE_CONFIG');

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

function readConfigFile(env: NodeJS.ProcessEnv, cwd: string): { path?: string; data: unknown } {
  const named = env.KEYPLANE_CONFIG;
  const candidates = named
    ? [resolve(cwd, named)]
    : ['keyplane.config.json', 'keyplane.config.yaml', 'keyplane.config.yml'].map((f) =>
        resolve(cwd, f),
      );
  const path = candidates.find((p) => existsSync(p));
  if (!path) {
    if (named) throw new ConfigError([`KEYPLANE_CONFIG: file not found: ${named}`]);
    return { data: {} };
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`${path}: cannot read: ${(err as Error).message}`]);
  }
  try {
    return { path, data: path.endsWith('.json') ? JSON.parse(text) : (parseYaml(text) ?? {}) };
  } catch (err) {
    throw new ConfigError([`${path}: cannot parse: ${(err as Error).message.split('\n')[0]}`]);
  }
}

/**
 * Loads and validates the configuration. Throws ConfigError with one line per problem.
 * Secrets (master keys) are never echoed in a message.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  const file = readConfigFile(env, cwd);
  if (typeof file.data !== 'object' || file.data === null || Array.isArray(file.data)) {
    throw new ConfigError([`${file.path}: must hold an object`]);
  }
  const merged: Record<string, unknown> = { ...(file.data as Record<string, unknown>) };
  const origin: Record<string, string> = {};
  for (const [name, field] of Object.entries(ENV_FIELDS)) {
    const value = env[name];
    if (value !== undefined && value !== '') {
      merged[field] = value;
      origin[field] = name;
    }
  }
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const field = issue.path.join('.');
        const where = origin[String(issue.path[0])] ?? (field || '(config file)');
        const msg =
          issue.code === 'unrecognized_keys'
            ? `unknown setting(s): ${issue.keys.join(', ')}`
            : issue.message;
        return `${where}: ${msg}`;
      }),
    );
  }
  const cfg = parsed.data;
  const databaseUrl = cfg.databaseUrl ?? `sqlite:${resolve(cwd, cfg.dataDir, 'keyplane.db')}`;
  return { ...cfg, dataDir: resolve(cwd, cfg.dataDir), databaseUrl };
}
