import { describe, expect, it } from 'vitest';
import {
  createCircuitBreaker,
  isTransientStatus,
  withRetry,
  type Attempt,
} from './resilience-fns.ts';

describe('isTransientStatus', () => {
  it('retries 408, 425, 429 and 5xx only', () => {
    for (const s of [408, 425, 429, 500, 502, 503, 504]) expect(isTransientStatus(s)).toBe(true);
    for (const s of [200, 400, 401, 403, 404, 422]) expect(isTransientStatus(s)).toBe(false);
  });
});

describe('withRetry', () => {
  const fast = { retries: 3, baseMs: 10, maxMs: 100, random: () => 1, sleep: async () => {} };

  it('retries transient failures and stops at the first success', async () => {
    const slept: number[] = [];
    let calls = 0;
    const result = await withRetry<string>(
      async () => {
        calls++;
        return calls < 3
          ? { ok: false, transient: true, reason: '503', status: 503 }
          : { ok: true, value: 'fine' };
      },
      { ...fast, sleep: async (ms) => void slept.push(ms) },
    );
    expect(result).toEqual({ ok: true, value: 'fine', attempts: 3 });
    expect(slept).toEqual([10, 20]);
  });

  it('never retries a permanent failure', async () => {
    let calls = 0;
    const result = await withRetry<string>(async () => {
      calls++;
      return { ok: false, transient: false, reason: '401', status: 401 };
    }, fast);
    expect(calls).toBe(1);
    expect(result).toMatchObject({ ok: false, attempts: 1, status: 401 });
  });

  it('gives up after the last retry with the last failure', async () => {
    let calls = 0;
    const result = await withRetry<string>(async (): Promise<Attempt<string>> => {
      calls++;
      return { ok: false, transient: true, reason: `try ${calls}` };
    }, fast);
    expect(calls).toBe(4);
    expect(result).toMatchObject({ ok: false, attempts: 4, reason: 'try 4' });
  });
});

describe('circuit breaker', () => {
  function setup() {
    let t = 0;
    const breaker = createCircuitBreaker({ failureThreshold: 3, cooldownMs: 1000, now: () => t });
    return { breaker, advance: (ms: number) => (t += ms) };
  }

  it('opens after consecutive failures and refuses calls during the cooldown', () => {
    const { breaker, advance } = setup();
    breaker.recordFailure();
    breaker.recordFailure();
    expect(breaker.state()).toBe('closed');
    breaker.recordFailure();
    expect(breaker.state()).toBe('open');
    advance(400);
    expect(breaker.tryPass()).toEqual({ allowed: false, retryInMs: 600 });
  });

  it('a success in between resets the count', () => {
    const { breaker } = setup();
    breaker.recordFailure();
    breaker.recordFailure();
    breaker.recordSuccess();
    breaker.recordFailure();
    breaker.recordFailure();
    expect(breaker.state()).toBe('closed');
  });

  it('lets one probe through after the cooldown; its success closes the circuit', () => {
    const { breaker, advance } = setup();
    for (let i = 0; i < 3; i++) breaker.recordFailure();
    advance(1000);
    expect(breaker.state()).toBe('half_open');
    expect(breaker.tryPass()).toEqual({ allowed: true });
    expect(breaker.tryPass().allowed).toBe(false);
    breaker.recordSuccess();
    expect(breaker.state()).toBe('closed');
    expect(breaker.tryPass()).toEqual({ allowed: true });
  });

  it('a failed probe opens the circuit for another full cooldown', () => {
    const { breaker, advance } = setup();
    for (let i = 0; i < 3; i++) breaker.recordFailure();
    advance(1500);
    expect(breaker.tryPass().allowed).toBe(true);
    breaker.recordFailure();
    expect(breaker.state()).toBe('open');
    advance(999);
    expect(breaker.tryPass()).toEqual({ allowed: false, retryInMs: 1 });
    advance(1);
    expect(breaker.tryPass().allowed).toBe(true);
  });
});
