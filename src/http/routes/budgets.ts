import type { preHandlerAsyncHookHandler } from 'fastify';
import { z } from 'zod';
import {
  BUDGET_MODES,
  BUDGET_PERIODS,
  budgetInput,
  budgetPatchInput,
  type BudgetsService,
} from '../../budgets/index.ts';
import type { Services } from '../../services.ts';
import type { App } from '../app.ts';
import { actorOf, requireAdmin } from '../auth.ts';
import { requireClient } from '../client-auth.ts';
import { errorResponses } from '../schemas.ts';

export const budgetSchema = z.object({
  id: z.string(),
  clientId: z.string(),
  keyId: z.string().nullable().describe('null: the whole client (every key)'),
  amountMicros: z.number().int(),
  amount: z.string().meta({ example: '100.00' }),
  currency: z.string(),
  period: z.enum(BUDGET_PERIODS),
  mode: z.enum(BUDGET_MODES),
  thresholds: z.array(z.number().int()),
  current: z.object({
    periodStart: z.string(),
    periodEnd: z.string(),
    spentMicros: z.number().int(),
    spent: z.string(),
    remainingMicros: z.number().int(),
    alerted: z.array(z.number().int()).describe('thresholds already alerted this period'),
  }),
  createdAt: z.string(),
  updatedAt: z.string(),
});

const clientParams = z.object({ id: z.string().min(1).max(100) });
const budgetParams = z.object({
  id: z.string().min(1).max(100),
  budgetId: z.string().min(1).max(100),
});
const keyParams = z.object({ id: z.string().min(1).max(100), keyId: z.string().min(1).max(100) });
const list = z.object({ data: z.array(budgetSchema) });
const one = z.object({ budget: budgetSchema });
const tags = ['admin: budgets'];

/** What the admin budget routes share: the service and the two scope checks. */
interface AdminCtx {
  budgets: BudgetsService;
  read: preHandlerAsyncHookHandler;
  write: preHandlerAsyncHookHandler;
}

/** Admin API: a client's budgets and its keys' budgets. */
export async function adminBudgetRoutes(app: App, services: Services) {
  const ctx: AdminCtx = {
    budgets: services.budgets,
    read: requireAdmin(services, 'clients:read'),
    write: requireAdmin(services, 'clients:write'),
  };
  clientBudgetsRoutes(app, ctx);
  keyBudgetsRoutes(app, ctx);
  oneBudgetRoute(app, ctx);
  budgetChangeRoutes(app, ctx);
}

/** A client's budgets, and a new budget on the whole client. */
function clientBudgetsRoutes(app: App, { budgets: b, read, write }: AdminCtx) {
  app.get(
    '/clients/:id/budgets',
    {
      preHandler: read,
      schema: {
        tags,
        summary: "A client's budgets (client-wide and per key), with the current period's spend",
        params: clientParams,
        response: { 200: list, ...errorResponses },
      },
    },
    async (request) => ({ data: await b.list(request.params.id) }),
  );
  app.post(
    '/clients/:id/budgets',
    {
      preHandler: write,
      schema: {
        tags,
        summary: 'Set a budget on a client (all its keys)',
        params: clientParams,
        body: budgetInput,
        response: { 201: one, ...errorResponses },
      },
    },
    async (request, reply) => {
      const budget = await b.create(
        request.params.id,
        { ...request.body, keyId: null },
        actorOf(request),
      );
      return reply.code(201).send({ budget });
    },
  );
}

/** One key's budgets, and a new budget on that key. */
function keyBudgetsRoutes(app: App, { budgets: b, read, write }: AdminCtx) {
  app.get(
    '/clients/:id/keys/:keyId/budgets',
    {
      preHandler: read,
      schema: {
        tags,
        summary: "A key's budgets",
        params: keyParams,
        response: { 200: list, ...errorResponses },
      },
    },
    async (request) => ({ data: await b.listForKey(request.params.id, request.params.keyId) }),
  );
  app.post(
    '/clients/:id/keys/:keyId/budgets',
    {
      preHandler: write,
      schema: {
        tags,
        summary: 'Set a budget on one key',
        params: keyParams,
        body: budgetInput,
        response: { 201: one, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { id, keyId } = request.params;
      const budget = await b.create(id, { ...request.body, keyId }, actorOf(request));
      return reply.code(201).send({ budget });
    },
  );
}

function oneBudgetRoute(app: App, { budgets: b, read }: AdminCtx) {
  app.get(
    '/clients/:id/budgets/:budgetId',
    {
      preHandler: read,
      schema: {
        tags,
        summary: 'One budget',
        params: budgetParams,
        response: { 200: one, ...errorResponses },
      },
    },
    async (request) => ({ budget: await b.get(request.params.id, request.params.budgetId) }),
  );
}

/** Change a budget, or remove it. */
function budgetChangeRoutes(app: App, { budgets: b, write }: AdminCtx) {
  app.patch(
    '/clients/:id/budgets/:budgetId',
    {
      preHandler: write,
      schema: {
        tags,
        summary: "Change a budget's amount, mode or thresholds",
        params: budgetParams,
        body: budgetPatchInput,
        response: { 200: one, ...errorResponses },
      },
    },
    async (request) => ({
      budget: await b.update(
        request.params.id,
        request.params.budgetId,
        request.body,
        actorOf(request),
      ),
    }),
  );
  app.delete(
    '/clients/:id/budgets/:budgetId',
    {
      preHandler: write,
      schema: {
        tags,
        summary: 'Remove a budget (and its spend and alerts)',
        params: budgetParams,
        response: { 204: z.null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      await b.delete(request.params.id, request.params.budgetId, actorOf(request));
      return reply.code(204).send(null);
    },
  );
}

/** Client API: a client's own budgets and spend so far. */
export async function clientBudgetRoutes(app: App, services: Services) {
  app.get(
    '/budgets',
    {
      preHandler: requireClient(services),
      schema: {
        tags: ['client'],
        summary: 'Own budgets and the spend of their current period',
        security: [{ apiKey: [] }],
        response: { 200: list, ...errorResponses },
      },
    },
    async (request) => ({ data: await services.budgets.list(request.client!.clientId) }),
  );
}
