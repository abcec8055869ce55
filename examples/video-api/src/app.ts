import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { KeyVerifier, UsageReporter } from '@keyplane/sdk';
import { keyplaneFastify } from '@keyplane/sdk/fastify';
import { analyzeFrames } from './analyze.ts';
import { FrameStore, type FrameStoreOptions } from './frame-store.ts';

export interface VideoApiOptions {
  /** Keyplane's base URL. */
  keyplaneUrl: string;
  /** An admin token with scopes `verify` and `usage:write`. */
  adminToken: string;
  frames?: FrameStoreOptions;
  /** How long a valid key is trusted without asking Keyplane again (default 5000 ms). */
  cacheTtlMs?: number;
  /** Bounded delay of usage reports (default 1000 ms). */
  reportIntervalMs?: number;
  logger?: boolean;
}

export interface VideoApi {
  app: FastifyInstance;
  frames: FrameStore;
  verifier: KeyVerifier;
  reporter: UsageReporter;
}

const RISK_LEVELS = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const;

function envelope(code: string, message: string, requestId: string) {
  return { error: { code, message, requestId } };
}

/**
 * Seed 01/02's video-analysis API on `@keyplane/sdk` alone: Keyplane verifies every key (the
 * service never sees a key's hash or its client's data) and meters every call; prices live in
 * Keyplane's price book, not here. Closing the app sends the usage still buffered.
 */
export function buildVideoApi(options: VideoApiOptions): VideoApi {
  const frames = new FrameStore(options.frames);
  const verifier = new KeyVerifier({
    baseUrl: options.keyplaneUrl,
    adminToken: options.adminToken,
    cacheTtlMs: options.cacheTtlMs,
  });
  const reporter = new UsageReporter({
    baseUrl: options.keyplaneUrl,
    adminToken: options.adminToken,
    flushIntervalMs: options.reportIntervalMs,
  });
  // base64 of the largest frame, plus room for the rest of the JSON.
  const bodyLimit = Math.ceil(frames.maxFrameBytes / 3) * 4 + 16 * 1024;
  const app = Fastify({ logger: options.logger ?? false, bodyLimit, genReqId: () => randomUUID() });

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err.validation) {
      return reply.code(400).send(envelope('validation_failed', err.message, request.id));
    }
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply
        .code(413)
        .send(
          envelope(
            'payload_too_large',
            `frame larger than ${frames.maxFrameBytes} bytes`,
            request.id,
          ),
        );
    }
    const status = err.statusCode && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) request.log.error({ err }, 'unhandled error');
    return reply
      .code(status)
      .send(
        envelope(
          status === 500 ? 'internal_error' : 'bad_request',
          status === 500 ? 'internal error' : err.message,
          request.id,
        ),
      );
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .send(envelope('not_found', `no route for ${request.method} ${request.url}`, request.id)),
  );
  app.addHook('onClose', async () => {
    await reporter.close();
  });

  // onRequest: a request without a valid key is refused before its body is even read.
  const auth = keyplaneFastify({ verifier, report: reporter });

  app.post<{ Body: { frame_data: string; frame_count?: number } }>(
    '/api/video/buffer',
    {
      onRequest: auth,
      schema: {
        body: {
          type: 'object',
          required: ['frame_data'],
          properties: {
            frame_data: { type: 'string', minLength: 1, pattern: '^[A-Za-z0-9+/=\\s]*$' },
            frame_count: { type: 'integer', minimum: 0 },
          },
        },
      },
    },
    async (request, reply) => {
      const clientId = request.keyplane!.client.id;
      const data = Buffer.from(request.body.frame_data, 'base64');
      const frameCount = request.body.frame_count ?? 1;
      const added = frames.add(clientId, data, frameCount);
      if (!added.ok) {
        return reply
          .code(413)
          .send(
            envelope(
              'payload_too_large',
              `frame larger than ${added.maxFrameBytes} bytes`,
              request.id,
            ),
          );
      }
      return { status: 'buffered', frame_count: frameCount, buffer_size: added.bufferSize };
    },
  );

  app.post('/api/video/analyze', { onRequest: auth }, async (request, reply) => {
    const buffered = frames.frames(request.keyplane!.client.id);
    if (!buffered.length) {
      return reply
        .code(409)
        .send(
          envelope('no_frames', 'buffer some frames first (POST /api/video/buffer)', request.id),
        );
    }
    return { status: 'analyzed', ...analyzeFrames(buffered) };
  });

  app.post<{ Body: { analysis: string; risk_level: (typeof RISK_LEVELS)[number] } }>(
    '/api/alert',
    {
      onRequest: auth,
      schema: {
        body: {
          type: 'object',
          required: ['analysis', 'risk_level'],
          properties: {
            analysis: { type: 'string', minLength: 1, maxLength: 10_000 },
            risk_level: { type: 'string', enum: [...RISK_LEVELS] },
          },
        },
      },
    },
    async (request) => {
      // Seed 01 emails the alert to the client's address; here it is logged for the operator.
      request.log.warn(
        { clientId: request.keyplane!.client.id, risk: request.body.risk_level },
        'security alert',
      );
      return { status: 'alert_sent', alert_id: randomUUID(), risk_level: request.body.risk_level };
    },
  );

  app.get('/api/health', { onRequest: auth }, async (request) => ({
    status: 'ok',
    timestamp: new Date().toISOString(),
    client: { id: request.keyplane!.client.id },
    buffer_size: frames.size(request.keyplane!.client.id),
  }));

  return { app, frames, verifier, reporter };
}
