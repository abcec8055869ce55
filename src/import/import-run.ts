import { createHash } from 'node:crypto';
import type { Actor, AuditService } from '../audit/index.ts';
import type { BillingService } from '../billing/index.ts';
import type { ClientsService } from '../clients/index.ts';
import type { CredentialsService } from '../credentials/index.ts';
import type { KeysService } from '../keys/index.ts';
import type { Clock } from '../lib/clock.ts';
import { AppError } from '../lib/errors.ts';
import type { UnitOfWork } from '../store/unit-of-work.ts';
import type { UsageService } from '../usage/index.ts';
import { RowError } from './import-fns.ts';
import type { ImportStore } from './import-store.ts';
import type { ImportEntity, ImportKind, ImportProgress, ImportReport } from './import-types.ts';
import { isUniqueViolation } from '../store/store-errors.ts';

export interface ImportDeps {
  importStore: ImportStore;
  clients: ClientsService;
  keys: KeysService;
  billing: BillingService;
  usage: UsageService;
  credentials: CredentialsService;
  audit: AuditService;
  clock: Clock;
  /** One transaction for a row's writes and its bookkeeping: all of it or none. */
  inUnit: UnitOfWork;
}

export interface ImportOptions {
  /** Names the source system in the bookkeeping (default: the kind); one per source system. */
  source?: string;
  dryRun?: boolean;
  onProgress?: ImportProgress;
  actor: Actor;
}

/** A message fit for the report: ours as they are, anything else without its details. */
function messageOf(err: unknown): string {
  if (err instanceof RowError || err instanceof AppError) return err.message;
  if (isUniqueViolation(err)) return 'a duplicate of a stored row';
  return `could not be stored (${(err as Error)?.name ?? 'error'})`;
}

type Deferred = { entity: ImportEntity; sourceId: string; targetId: string };

/** A run's state: its counts, report and the rows waiting for `commitDeferred`. */
interface RunState {
  deps: ImportDeps;
  opts: ImportOptions;
  source: string;
  dryRun: boolean;
  report: ImportReport;
  done: number;
  total: number;
  deferred: Deferred[];
}

/**
 * One import run: counts, row problems, progress, and the bookkeeping that makes each source
 * row imported at most once. Each row is mapped first (nothing written when it is bad), then
 * written by the owning services and recorded, in one transaction (a unit of work): a row that
 * fails half-way leaves nothing behind. Metered usage (`defer`) is recorded after its flush.
 */
export function createImportRun(deps: ImportDeps, kind: ImportKind, opts: ImportOptions) {
  const source = opts.source ?? kind;
  const dryRun = opts.dryRun ?? false;
  const report: ImportReport = { source, kind, dryRun, imported: {}, skipped: {}, failed: [] };
  const state: RunState = { deps, opts, source, dryRun, report, done: 0, total: 0, deferred: [] };
  return {
    deps,
    source,
    dryRun,
    actor: opts.actor,
    report,
    addTotal(n: number): void {
      state.total += n;
      opts.onProgress?.(state.done, state.total);
    },
    /** Was this source row imported by an earlier run? */
    async importedBefore(entity: ImportEntity, sourceId: string): Promise<boolean> {
      return (await deps.importStore.find(source, entity, sourceId)) !== null;
    },
    fail: (entity: ImportEntity, sourceId: string, message: string) =>
      fail(state, entity, sourceId, message),
    /**
     * One source row. Returns its Keyplane id (the earlier one when imported before), or null
     * when it failed. With `defer`, its record waits for `commitDeferred` (usage: after the flush).
     */
    row: <T>(
      entity: ImportEntity,
      sourceId: string,
      map: () => T,
      write: (value: T) => Promise<string>,
      options: { defer?: boolean } = {},
    ) => row(state, entity, sourceId, map, write, options),
    /** Flushes metered history, then records the deferred rows as imported. */
    commitDeferred: () => commitDeferred(state),
    /** A stable, compact request id for an imported usage row (dedupe across runs too). */
    usageRequestId(sourceId: string): string {
      const digest = createHash('sha256').update(`${source}\u0000${sourceId}`).digest('hex');
      return `imp_${digest.slice(0, 28)}`;
    },
  };
}

export type ImportRun = ReturnType<typeof createImportRun>;

const bump = (m: ImportReport['imported'], e: ImportEntity) => (m[e] = (m[e] ?? 0) + 1);

function tick(state: RunState): void {
  state.done++;
  state.opts.onProgress?.(state.done, state.total);
}

function fail(state: RunState, entity: ImportEntity, sourceId: string, message: string): void {
  state.report.failed.push({ entity, sourceId, message });
  tick(state);
}

const nowOf = (state: RunState) => state.deps.clock.now().toISOString();

async function row<T>(
  state: RunState,
  entity: ImportEntity,
  sourceId: string,
  map: () => T,
  write: (value: T) => Promise<string>,
  options: { defer?: boolean },
): Promise<string | null> {
  const { deps, source, report } = state;
  const earlier = await deps.importStore.find(source, entity, sourceId);
  if (earlier) {
    bump(report.skipped, entity);
    tick(state);
    return earlier;
  }
  let value: T;
  try {
    value = map();
  } catch (err) {
    fail(state, entity, sourceId, messageOf(err));
    return null;
  }
  if (state.dryRun) {
    bump(report.imported, entity);
    tick(state);
    return `dry-run:${entity}:${sourceId}`;
  }
  try {
    let targetId: string;
    if (options.defer) {
      targetId = await write(value);
      state.deferred.push({ entity, sourceId, targetId });
    } else {
      targetId = await deps.inUnit(async () => {
        const id = await write(value);
        await deps.importStore.insert(source, entity, [{ sourceId, targetId: id }], nowOf(state));
        return id;
      });
    }
    bump(report.imported, entity);
    tick(state);
    return targetId;
  } catch (err) {
    fail(state, entity, sourceId, messageOf(err));
    return null;
  }
}

async function commitDeferred(state: RunState): Promise<void> {
  const { deferred, deps } = state;
  if (!deferred.length) return;
  await deps.usage.flush();
  const byEntity = new Map<ImportEntity, Deferred[]>();
  for (const d of deferred) byEntity.set(d.entity, [...(byEntity.get(d.entity) ?? []), d]);
  for (const [entity, rows] of byEntity)
    await deps.importStore.insert(state.source, entity, rows, nowOf(state));
  deferred.length = 0;
}
