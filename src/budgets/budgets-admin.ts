import type { Actor } from '../audit/index.ts';
import { AppError } from '../lib/errors.ts';
import { isIdOf, newId } from '../lib/ids.ts';
import { formatMicros } from '../lib/money.ts';
import { periodBounds } from './budgets-fns.ts';
import type { BudgetInput, BudgetPatch } from './budgets-input.ts';
import type { BudgetGate } from './budgets-gate.ts';
import { toRule } from './budgets-rules.ts';
import type { BudgetClientInfo, BudgetsServiceDeps } from './budgets-service.ts';
import { DEFAULT_THRESHOLDS, type Budget, type BudgetsTable } from './budgets-types.ts';

/** What the budget admin operations share: the service's deps and this node's gate. */
export interface AdminCtx {
  deps: BudgetsServiceDeps;
  gate: BudgetGate;
}

async function mustClient(ctx: AdminCtx, clientId: string): Promise<BudgetClientInfo> {
  const info = isIdOf('client', clientId) ? await ctx.deps.clientInfo(clientId) : null;
  if (!info) throw new AppError('not_found', 'client not found');
  return info;
}

async function mustFind(ctx: AdminCtx, clientId: string, id: string): Promise<BudgetsTable> {
  const row = isIdOf('budget', id) ? await ctx.deps.budgetsStore.find(clientId, id) : null;
  if (!row) throw new AppError('not_found', 'budget not found');
  return row;
}

async function toBudget(ctx: AdminCtx, row: BudgetsTable, info: BudgetClientInfo): Promise<Budget> {
  const rule = toRule(row);
  const p = periodBounds(rule.period, info.frequency, ctx.deps.clock.nowMs());
  const periodStart = new Date(p.start).toISOString();
  const [reserved, alerted] = await Promise.all([
    ctx.deps.budgetsStore.spent(row.client_id, row.id, periodStart),
    ctx.deps.budgetsStore.alerted(row.client_id, row.id, periodStart),
  ]);
  // This node's lease is reserved, not spent: what it still holds is not shown as spend.
  const spent = Math.max(0, reserved - ctx.gate.unspent(row.id, periodStart));
  return {
    id: row.id,
    clientId: row.client_id,
    keyId: row.key_id,
    amountMicros: rule.amountMicros,
    amount: formatMicros(rule.amountMicros),
    currency: info.currency,
    period: rule.period,
    mode: rule.mode,
    thresholds: rule.thresholds,
    current: {
      periodStart,
      periodEnd: new Date(p.end).toISOString(),
      spentMicros: spent,
      spent: formatMicros(spent),
      remainingMicros: Math.max(0, rule.amountMicros - spent),
      alerted,
    },
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

async function changed(ctx: AdminCtx, clientId: string, id: string): Promise<void> {
  await ctx.deps.changes?.publish({ kind: 'budget', id, clientId });
}

export async function create(
  ctx: AdminCtx,
  clientId: string,
  input: BudgetInput,
  actor: Actor,
): Promise<Budget> {
  const info = await mustClient(ctx, clientId);
  const keyId = input.keyId ?? null;
  if (keyId !== null && !(isIdOf('key', keyId) && (await ctx.deps.keyExists(clientId, keyId)))) {
    throw new AppError('not_found', 'key not found');
  }
  const iso = ctx.deps.clock.now().toISOString();
  const row: BudgetsTable = {
    id: newId('budget'),
    client_id: clientId,
    key_id: keyId,
    amount_micros: input.amountMicros,
    period: input.period,
    mode: input.mode,
    thresholds: JSON.stringify(input.thresholds ?? DEFAULT_THRESHOLDS),
    created_at: iso,
    updated_at: iso,
  };
  await ctx.deps.budgetsStore.insert(row);
  await changed(ctx, clientId, row.id);
  await ctx.deps.audit.record({
    actor,
    action: 'budget.created',
    targetType: 'budget',
    targetId: row.id,
    clientId,
    data: { keyId, amountMicros: row.amount_micros, period: row.period, mode: row.mode },
  });
  return toBudget(ctx, row, info);
}

/** Every budget of a client (client-wide and per key), with the current period's spend. */
export async function list(ctx: AdminCtx, clientId: string): Promise<Budget[]> {
  const info = await mustClient(ctx, clientId);
  const rows = await ctx.deps.budgetsStore.list(clientId);
  return Promise.all(rows.map((r) => toBudget(ctx, r, info)));
}

export async function listForKey(
  ctx: AdminCtx,
  clientId: string,
  keyId: string,
): Promise<Budget[]> {
  if (!(isIdOf('key', keyId) && (await ctx.deps.keyExists(clientId, keyId)))) {
    throw new AppError('not_found', 'key not found');
  }
  return (await list(ctx, clientId)).filter((b) => b.keyId === keyId);
}

export async function get(ctx: AdminCtx, clientId: string, id: string): Promise<Budget> {
  const info = await mustClient(ctx, clientId);
  return toBudget(ctx, await mustFind(ctx, clientId, id), info);
}

export async function update(
  ctx: AdminCtx,
  clientId: string,
  id: string,
  patch: BudgetPatch,
  actor: Actor,
): Promise<Budget> {
  const info = await mustClient(ctx, clientId);
  await mustFind(ctx, clientId, id);
  const set: Partial<BudgetsTable> = { updated_at: ctx.deps.clock.now().toISOString() };
  if (patch.amountMicros !== undefined) set.amount_micros = patch.amountMicros;
  if (patch.mode !== undefined) set.mode = patch.mode;
  if (patch.thresholds !== undefined) set.thresholds = JSON.stringify(patch.thresholds);
  await ctx.deps.budgetsStore.update(clientId, id, set);
  await changed(ctx, clientId, id);
  await ctx.deps.audit.record({
    actor,
    action: 'budget.updated',
    targetType: 'budget',
    targetId: id,
    clientId,
    data: { amountMicros: set.amount_micros, mode: set.mode, thresholds: patch.thresholds },
  });
  return toBudget(ctx, await mustFind(ctx, clientId, id), info);
}

export async function remove(
  ctx: AdminCtx,
  clientId: string,
  id: string,
  actor: Actor,
): Promise<void> {
  await mustFind(ctx, clientId, id);
  if (await ctx.deps.budgetsStore.delete(clientId, id)) {
    await changed(ctx, clientId, id);
    await ctx.deps.audit.record({
      actor,
      action: 'budget.deleted',
      targetType: 'budget',
      targetId: id,
      clientId,
    });
  }
}

/** A deleted client's budgets go with it. */
export async function forgetClient(ctx: AdminCtx, clientId: string): Promise<void> {
  await ctx.deps.budgetsStore.deleteAllForClient(clientId);
  await changed(ctx, clientId, clientId);
}
