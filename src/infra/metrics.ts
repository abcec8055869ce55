import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * prom-client's default collectors export three gauges named `…_total`, a suffix Prometheus
 * reserves for counters (`promtool check metrics` flags them). They are re-exported under
 * names without it; the per-type gauges (`keyplane_nodejs_active_handles{type}` …) stay as
 * they are.
 */
const RENAMED_DEFAULTS: Record<string, string> = {
  keyplane_nodejs_active_handles_total: 'keyplane_nodejs_active_handles_all',
  keyplane_nodejs_active_requests_total: 'keyplane_nodejs_active_requests_all',
  keyplane_nodejs_active_resources_total: 'keyplane_nodejs_active_resources_all',
};

function renameDefaultGauges(registry: Registry): void {
  for (const [from, to] of Object.entries(RENAMED_DEFAULTS)) {
    const original = registry.getSingleMetric(from);
    if (!original) continue;
    registry.removeSingleMetric(from);
    new Gauge({
      name: to,
      help: `${(original as unknown as { help: string }).help} (all types)`,
      registers: [registry],
      async collect() {
        const { values } = await original.get();
        this.set(values[0]?.value ?? 0);
      },
    });
  }
}

/** The HTTP methods a route can have; any other method is labelled `other` (bounded series). */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

export function methodLabel(method: string): string {
  return KNOWN_METHODS.has(method) ? method : 'other';
}

/**
 * One Prometheus registry per running app (never the global one, so tests can build many).
 * Modules add their own metrics to `registry`.
 */
export function createMetrics(options: { defaults?: boolean } = {}) {
  const registry = new Registry();
  if (options.defaults !== false) {
    collectDefaultMetrics({ register: registry, prefix: 'keyplane_' });
    renameDefaultGauges(registry);
  }
  const httpRequests = new Counter({
    name: 'keyplane_http_requests_total',
    help: 'HTTP requests by route template, method and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const httpDuration = new Histogram({
    name: 'keyplane_http_request_duration_seconds',
    help: 'HTTP request duration by route template',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  return { registry, httpRequests, httpDuration };
}

export type Metrics = ReturnType<typeof createMetrics>;
