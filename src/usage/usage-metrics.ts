import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Metering metrics: queue depth, flush time and outcome, events written or dropped. */
export function createUsageMetrics(registry: Registry, queueDepth: () => number) {
  return {
    queueDepth: new Gauge({
      name: 'keyplane_usage_queue_depth',
      help: 'Usage events recorded in memory and not yet flushed',
      registers: [registry],
      collect() {
        this.set(queueDepth());
      },
    }),
    flushSeconds: new Histogram({
      name: 'keyplane_usage_flush_seconds',
      help: 'Time to write one batch of usage events and their rollups',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    flushes: new Counter({
      name: 'keyplane_usage_flushes_total',
      help: 'Usage flushes by result',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    events: new Counter({
      name: 'keyplane_usage_events_total',
      help: 'Usage events written (new request ids) by environment',
      labelNames: ['environment'] as const,
      registers: [registry],
    }),
    dropped: new Counter({
      name: 'keyplane_usage_events_dropped_total',
      help: 'Usage events dropped because the queue was full while storage was failing',
      registers: [registry],
    }),
  };
}

export type UsageMetrics = ReturnType<typeof createUsageMetrics>;
