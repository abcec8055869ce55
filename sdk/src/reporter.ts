import { randomUUID } from 'node:crypto';
import { Keyplane } from './client.ts';
import { KeyplaneError } from './errors.ts';
import type { UsageEventInput } from './types.ts';

export interface UsageReporterOptions {
  /** A Keyplane client holding an admin token with scope `usage:write`… */
  keyplane?: Keyplane;
  /** …or where to reach Keyplane and the token to use. */
  baseUrl?: string;
  adminToken?: string;
  /** Bounded delay between a call and its report (default 1000 ms). */
  flushIntervalMs?: number;
  /** Events per request (default 500, at most 1000); a full batch is sent at once. */
  maxBatch?: number;
  /** Events held while Keyplane is unreachable before the oldest are dropped (default 100 000). */
  maxQueue?: number;
  /** Told about events Keyplane refused and batches that failed (default: console.warn). */
  onError?: (err: Error, info: { dropped: number }) => void;
}

/**
 * Meters calls to a service's own endpoints into Keyplane: events are buffered in memory and
 * sent in batches to `POST /admin/v1/usage/events` (at most `flushIntervalMs` late). Each event
 * carries a fresh request id, so a batch retried after a lost answer is never counted twice.
 * Keyplane prices each event by its price book (`pricing` in its config file).
 *
 * @example
 *   import { UsageReporter } from '@keyplane/sdk';
 *
 *   const reporter = new UsageReporter({ baseUrl, adminToken });
 *   reporter.record({ clientId, keyId, endpoint: 'POST /api/video/analyze', method: 'POST', status: 200 });
 *   await reporter.close(); // on shutdown: sends everything still buffered
 */
export class UsageReporter {
  readonly keyplane: Keyplane;
  readonly #interval: number;
  readonly #maxBatch: number;
  readonly #maxQueue: number;
  readonly #onError: NonNullable<UsageReporterOptions['onError']>;
  #queue: UsageEventInput[] = [];
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #failures = 0;
  #closed = false;
  /** Events Keyplane accepted, refused (unknown key) and dropped (queue full). */
  readonly stats = { sent: 0, rejected: 0, dropped: 0 };

  constructor(options: UsageReporterOptions) {
    this.keyplane =
      options.keyplane ??
      new Keyplane({ baseUrl: options.baseUrl ?? '', adminToken: options.adminToken });
    this.#interval = options.flushIntervalMs ?? 1000;
    this.#maxBatch = Math.min(1000, Math.max(1, options.maxBatch ?? 500));
    this.#maxQueue = options.maxQueue ?? 100_000;
    this.#onError =
      options.onError ??
      ((err, info) =>
        console.warn(`keyplane usage report: ${err.message} (dropped ${info.dropped})`));
  }

  /** Queues one finished call; never waits for the network. */
  record(event: Omit<UsageEventInput, 'requestId'> & { requestId?: string }): void {
    this.#queue.push({ ...event, requestId: event.requestId ?? randomUUID() });
    if (this.#queue.length > this.#maxQueue) {
      const drop = this.#queue.length - this.#maxQueue;
      this.#queue.splice(0, drop);
      this.stats.dropped += drop;
    }
    if (this.#queue.length >= this.#maxBatch || this.#closed) void this.flush();
    else this.#schedule(this.#interval);
  }

  /** Events waiting to be sent. */
  get pending(): number {
    return this.#queue.length;
  }

  /**
   * Sends everything queued so far. One flush runs at a time; a caller arriving during one
   * waits for it. Resolves even when Keyplane is unreachable (the events stay queued).
   */
  flush(): Promise<void> {
    if (!this.#running) {
      this.#running = this.#drain().finally(() => {
        this.#running = null;
        if (this.#queue.length && !this.#closed) {
          this.#schedule(Math.min(this.#interval * 2 ** this.#failures, 30_000));
        }
      });
    }
    return this.#running;
  }

  /** Stops the timer and sends what is left (one attempt per batch). */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.flush();
    // Anything queued while the last flush ran.
    if (this.#queue.length && this.#failures === 0) await this.flush();
  }

  #schedule(delay: number) {
    if (this.#timer || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.flush();
    }, delay);
    this.#timer.unref();
  }

  async #drain(): Promise<void> {
    while (this.#queue.length) {
      const batch = this.#queue.slice(0, this.#maxBatch);
      try {
        const answer = await this.keyplane.usage.record(batch);
        this.#queue.splice(0, batch.length);
        this.#failures = 0;
        this.stats.sent += answer.recorded;
        if (answer.rejected.length) {
          this.stats.rejected += answer.rejected.length;
          this.#onError(
            new Error(`Keyplane refused ${answer.rejected.length} event(s): unknown client key`),
            { dropped: answer.rejected.length },
          );
        }
      } catch (err) {
        const e = err as Error;
        const retriable =
          !(err instanceof KeyplaneError) ||
          err.status === 0 ||
          err.status >= 500 ||
          err.status === 429;
        if (retriable) {
          this.#failures++;
          this.#onError(e, { dropped: 0 });
          return;
        }
        // Refused as a whole (bad token, invalid batch): retrying cannot help.
        this.#queue.splice(0, batch.length);
        this.stats.dropped += batch.length;
        this.#onError(e, { dropped: batch.length });
      }
    }
  }
}
