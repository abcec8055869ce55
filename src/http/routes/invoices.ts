import { z } from 'zod';
import {
  BILLING_FREQUENCIES,
  INVOICE_STATUSES,
  PAYMENT_METHODS,
  paymentDetailsInput,
} from '../../billing/index.ts';
import type { Services } from '../../services.ts';
import type { App } from '../app.ts';
import { actorOf, requireAdmin } from '../auth.ts';
import { requireClient } from '../client-auth.ts';
import { LIMITS, errorResponses, idParams } from '../schemas.ts';

const period = z
  .string()
  .regex(/^\d{4}-(W\d{2}|\d{2})$/, 'must be an ISO week like 2025-W40 or a month like 2025-10')
  .meta({ example: '2025-W40' });

const companySchema = z.object({
  name: z.string().nullable(),
  address: z.string().nullable(),
  vatId: z.string().nullable(),
});

export const lineItemSchema = z.object({
  endpoint: z.string().meta({ example: 'POST /api/video/analyze' }),
  calls: z.number().int(),
  unitPriceMicros: z.number().int().meta({ example: 50_000 }),
  amountMicros: z.number().int(),
  unitPrice: z.string().meta({ example: '0.05' }),
  amount: z.string(),
});

const deliverySchema = z.object({
  id: z.string(),
  attempt: z.number().int(),
  to: z.string().nullable(),
  status: z.enum(['sent', 'failed']),
  transient: z.boolean().describe('a failure worth retrying (4xx reply, connection trouble)'),
  error: z.string().nullable(),
  smtpCode: z.number().int().nullable(),
  messageId: z.string().nullable(),
  createdAt: z.string(),
});

export const invoiceSchema = z
  .object({
    id: z.string(),
    number: z.string().meta({ example: 'INV-2025-W40-0001' }),
    clientId: z.string(),
    period: z.string().meta({ example: '2025-W40' }),
    periodStart: z
      .string()
      .describe(
        'start of the days actually billed: later than the period’s start when the client’s earlier invoices (before a change of frequency) already cover part of it',
      ),
    periodEnd: z
      .string()
      .describe(
        'end (exclusive) of the days actually billed; earlier than the period’s end likewise',
      ),
    currency: z.string().meta({ example: 'EUR' }),
    status: z.enum(INVOICE_STATUSES as [string, ...string[]]),
    totalMicros: z.number().int(),
    total: z.string().meta({ example: '2.43' }),
    lineItems: z.array(lineItemSchema),
    billTo: z.object({
      name: z.string(),
      email: z.string().nullable(),
      company: companySchema,
      paymentMethod: z.string(),
    }),
    createdAt: z.string(),
    issuedAt: z.string(),
    sentAt: z.string().nullable(),
    paidAt: z.string().nullable(),
    voidedAt: z.string().nullable(),
    voidReason: z.string().nullable(),
    sendAttempts: z.number().int(),
    nextSendAt: z.string().nullable().describe('when a failed delivery is retried'),
    deliveries: z.array(deliverySchema).optional().describe('every delivery attempt (admin)'),
  })
  .describe('One client’s invoice for one period');

const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(LIMITS.maxPageSize).default(50),
  cursor: z.string().max(200).optional(),
  period: period.optional(),
  status: z.enum(INVOICE_STATUSES as [string, ...string[]]).optional(),
});

const invoicePage = z.object({ data: z.array(invoiceSchema), nextCursor: z.string().nullable() });

const htmlResponse = {
  description: 'the printable invoice page',
  content: { 'text/html': { schema: z.string() } },
};

/** Client API: own invoices only; another client's invoice answers 404 like a missing one. */
export async function invoiceRoutes(app: App, services: Services) {
  const auth = requireClient(services);
  app.get(
    '/invoices',
    {
      preHandler: auth,
      schema: {
        tags: ['invoices'],
        summary: 'Own invoices, newest first',
        security: [{ apiKey: [] }],
        querystring: listQuery,
        response: { 200: invoicePage, ...errorResponses },
      },
    },
    async (request) =>
      services.billing.listForClient(request.client!.clientId, {
        ...request.query,
        status: request.query.status as never,
      }),
  );
  app.get(
    '/invoices/:id',
    {
      preHandler: auth,
      schema: {
        tags: ['invoices'],
        summary: 'One own invoice',
        security: [{ apiKey: [] }],
        params: idParams,
        response: { 200: z.object({ invoice: invoiceSchema }), ...errorResponses },
      },
    },
    async (request) => ({
      invoice: await services.billing.getForClient(request.client!.clientId, request.params.id),
    }),
  );
  app.get(
    '/invoices/:id/html',
    {
      preHandler: auth,
      schema: {
        tags: ['invoices'],
        summary: 'One own invoice as a printable HTML page',
        security: [{ apiKey: [] }],
        params: idParams,
        response: { 200: htmlResponse, ...errorResponses },
      },
    },
    async (request, reply) => {
      const invoice = await services.billing.getForClient(
        request.client!.clientId,
        request.params.id,
      );
      return reply
        .type('text/html; charset=utf-8')
        .header('cache-control', 'private, no-store')
        .serializer((v: unknown) => String(v))
        .send(services.billing.renderHtml(invoice));
    },
  );
}

const paymentDetailsSchema = z.object({
  clientId: z.string(),
  method: z.enum(PAYMENT_METHODS as [string, ...string[]]),
  frequency: z.enum(BILLING_FREQUENCIES as [string, ...string[]]),
  billingEmail: z.string().nullable().describe('null: invoices go to the client’s email'),
  currency: z.string(),
  company: companySchema,
  invoiceWhenEmpty: z
    .boolean()
    .nullable()
    .describe('issue an invoice even without billable usage; null = config default'),
  createdAt: z.string(),
  updatedAt: z.string(),
});

const runResultSchema = z.object({
  period: z.string(),
  kind: z.enum(BILLING_FREQUENCIES as [string, ...string[]]),
  periodStart: z.string(),
  periodEnd: z.string(),
  clients: z.number().int().describe('clients due an invoice for this period'),
  created: z.number().int().describe('invoices this run issued'),
  existing: z.number().int().describe('invoices that already existed (earlier or concurrent run)'),
  createdTotalMicros: z.number().int(),
  sent: z.number().int(),
  sendFailed: z.number().int(),
  durationMs: z.number(),
});

const tags = ['invoices (admin)'];
const security = [{ bearer: [] }];

/** Admin API: runs, every client's invoices, delivery and status; payment details. */
export async function adminInvoiceRoutes(app: App, services: Services) {
  runRoute(app, services);
  invoiceReadRoutes(app, services);
  invoiceActionRoutes(app, services);
  paymentDetailsRoutes(app, services);
}

function runRoute(app: App, services: Services) {
  const write = requireAdmin(services, 'invoices:write');
  app.post(
    '/invoices/run',
    {
      preHandler: write,
      schema: {
        tags,
        security,
        summary: 'Invoice a period (default: the last completed ISO week); idempotent',
        body: z
          .object({
            period: period.optional(),
            send: z.boolean().default(false).describe('email every unsent invoice of the period'),
          })
          .default({ send: false }),
        response: { 200: runResultSchema, ...errorResponses },
      },
    },
    async (request) =>
      services.billing.run({
        period: request.body.period,
        send: request.body.send,
        actor: actorOf(request),
      }),
  );
}

function invoiceReadRoutes(app: App, services: Services) {
  const read = requireAdmin(services, 'invoices:read');
  app.get(
    '/invoices',
    {
      preHandler: read,
      schema: {
        tags,
        security,
        summary: 'Invoices of every client, newest first',
        querystring: listQuery.extend({ clientId: z.string().max(100).optional() }),
        response: { 200: invoicePage, ...errorResponses },
      },
    },
    async (request) =>
      services.billing.list({ ...request.query, status: request.query.status as never }),
  );
  app.get(
    '/invoices/:id',
    {
      preHandler: read,
      schema: {
        tags,
        security,
        summary: 'One invoice with its delivery attempts',
        params: idParams,
        response: { 200: z.object({ invoice: invoiceSchema }), ...errorResponses },
      },
    },
    async (request) => ({ invoice: await services.billing.get(request.params.id) }),
  );
  app.get(
    '/invoices/:id/html',
    {
      preHandler: read,
      schema: {
        tags,
        security,
        summary: 'One invoice as a printable HTML page',
        params: idParams,
        response: { 200: htmlResponse, ...errorResponses },
      },
    },
    async (request, reply) =>
      reply
        .type('text/html; charset=utf-8')
        .header('cache-control', 'private, no-store')
        .serializer((v: unknown) => String(v))
        .send(services.billing.renderHtml(await services.billing.get(request.params.id))),
  );
}

function invoiceActionRoutes(app: App, services: Services) {
  const write = requireAdmin(services, 'invoices:write');
  app.post(
    '/invoices/:id/send',
    {
      preHandler: write,
      schema: {
        tags,
        security,
        summary: 'Email (or re-email) an invoice now; the outcome and every attempt are returned',
        params: idParams,
        response: {
          200: z.object({
            invoice: invoiceSchema,
            delivered: z.boolean(),
            error: z.string().optional(),
          }),
          ...errorResponses,
          503: errorResponses[409],
        },
      },
    },
    async (request) => services.billing.send(request.params.id, actorOf(request)),
  );
  app.post(
    '/invoices/:id/void',
    {
      preHandler: write,
      schema: {
        tags,
        security,
        summary: 'Void an issued or sent invoice (it keeps its number)',
        params: idParams,
        body: z.object({ reason: z.string().max(500).optional() }).optional(),
        response: { 200: z.object({ invoice: invoiceSchema }), ...errorResponses },
      },
    },
    async (request) => ({
      invoice: await services.billing.void(
        request.params.id,
        actorOf(request),
        request.body?.reason,
      ),
    }),
  );
  app.post(
    '/invoices/:id/paid',
    {
      preHandler: write,
      schema: {
        tags,
        security,
        summary: 'Record that an invoice was paid',
        params: idParams,
        response: { 200: z.object({ invoice: invoiceSchema }), ...errorResponses },
      },
    },
    async (request) => ({
      invoice: await services.billing.markPaid(request.params.id, actorOf(request)),
    }),
  );
}

function paymentDetailsRoutes(app: App, services: Services) {
  app.get(
    '/clients/:id/payment-details',
    {
      preHandler: requireAdmin(services, 'clients:read'),
      schema: {
        tags: ['clients'],
        security,
        summary: 'A client’s payment details (null when never set: weekly, client email)',
        params: idParams,
        response: {
          200: z.object({ paymentDetails: paymentDetailsSchema.nullable() }),
          ...errorResponses,
        },
      },
    },
    async (request) => ({
      paymentDetails: await services.billing.getPaymentDetails(request.params.id),
    }),
  );
  app.put(
    '/clients/:id/payment-details',
    {
      preHandler: requireAdmin(services, 'clients:write'),
      schema: {
        tags: ['clients'],
        security,
        summary:
          'Set a client’s payment details (method, frequency, billing email, currency, company)',
        params: idParams,
        body: paymentDetailsInput,
        response: { 200: z.object({ paymentDetails: paymentDetailsSchema }), ...errorResponses },
      },
    },
    async (request) => ({
      paymentDetails: await services.billing.setPaymentDetails(
        request.params.id,
        request.body,
        actorOf(request),
      ),
    }),
  );
}
