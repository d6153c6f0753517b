import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { pause, retryUntil } from '../../src/runtime/kubernetes/backoff.js';
import { KubeError, toKubeError } from '../../src/runtime/kubernetes/kube-client.js';
import { Reflector } from '../../src/runtime/kubernetes/reflector.js';
import { eventually } from './harness.js';

const quiet = (): void => undefined;
const tuning = {
  watchTimeoutSecondsMin: 1,
  watchTimeoutSecondsMax: 1,
  watchIdleTimeoutMs: 1000,
  backoffInitialMs: 1,
  backoffMaxMs: 2,
  backoffResetMs: 60_000,
};

describe('waiting leaves nothing behind', () => {
  it('pause removes its abort listener whether the time runs out or the signal aborts', async () => {
    const controller = new AbortController();
    for (let i = 0; i < 200; i += 1) await pause(0, controller.signal);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    const long = pause(60_000, controller.signal);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    controller.abort();
    await long;
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('a reflector backing off hundreds of times keeps no listener per backoff on its signal', async () => {
    const listenersAtEachList: number[] = [];
    const reflector = new Reflector(
      'jobs',
      {
        list: (_query, signal) => {
          listenersAtEachList.push(getEventListeners(signal, 'abort').length);
          return Promise.reject(new KubeError('Kubernetes API answered 503', 503));
        },
        watch: () => Promise.reject(new Error('never reached')),
      },
      'app=x',
      { upsert: quiet, remove: quiet },
      tuning,
      quiet,
    );
    void reflector.start();
    try {
      await eventually(() => reflector.stats.errors >= 300, 10_000);
    } finally {
      await reflector.stop();
    }
    expect(Math.max(...listenersAtEachList)).toBe(0);
  });
});

describe('retryUntil', () => {
  const options = { initialMs: 5, maxMs: 20, attemptTimeoutMs: 200, warn: quiet };

  it('retries connection errors, 429 (waiting Retry-After) and 5xx until it succeeds', async () => {
    const failures = [
      new KubeError('Kubernetes API unreachable: fetch failed', 0),
      new KubeError('Kubernetes API answered 429', 429, 150),
      new KubeError('Kubernetes API answered 503', 503),
    ];
    const attempts: number[] = [];
    const started = Date.now();
    const result = await retryUntil(
      'create',
      () => {
        attempts.push(Date.now() - started);
        const next = failures.shift();
        return next ? Promise.reject(next) : Promise.resolve('created');
      },
      { ...options, deadline: Date.now() + 5000 },
    );
    expect(result).toBe('created');
    expect(attempts).toHaveLength(4);
    // The attempt after the 429 waited its Retry-After (150 ms), not the few ms of the backoff.
    expect(attempts[2]! - attempts[1]!).toBeGreaterThanOrEqual(145);
  });

  it('repeats an attempt that never answers, as a timeout', async () => {
    let calls = 0;
    const result = await retryUntil(
      'create',
      () => (++calls === 1 ? new Promise<string>(() => undefined) : Promise.resolve('second')),
      { ...options, attemptTimeoutMs: 50, deadline: Date.now() + 5000 },
    );
    expect([result, calls]).toEqual(['second', 2]);
  });

  it('does not repeat what will fail the same way, and gives up at the deadline', async () => {
    let calls = 0;
    const invalid = retryUntil('create', () => (calls++, Promise.reject(new KubeError('invalid', 422))), {
      ...options,
      deadline: Date.now() + 5000,
    });
    await expect(invalid).rejects.toMatchObject({ code: 422 });
    expect(calls).toBe(1);
    const started = Date.now();
    const down = retryUntil('create Job', () => Promise.reject(new KubeError('fetch failed', 0)), {
      ...options,
      deadline: Date.now() + 300,
    });
    await expect(down).rejects.toThrow(/create Job: gave up at the deadline: fetch failed/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe('what the API server asks us to wait', () => {
  const status = (details: object = {}) =>
    JSON.stringify({ kind: 'Status', status: 'Failure', reason: 'TooManyRequests', code: 429, details });

  it('reads Retry-After in seconds or as an HTTP date, else the Status body details.retryAfterSeconds', () => {
    expect(toKubeError({ code: 429, headers: { 'retry-after': '1' }, body: status() }).retryAfterMs).toBe(
      1000,
    );
    const date = new Date(Date.now() + 3000).toUTCString();
    const fromDate = toKubeError({ code: 503, headers: { 'retry-after': date }, body: '' }).retryAfterMs!;
    expect(fromDate).toBeGreaterThan(1000);
    expect(fromDate).toBeLessThanOrEqual(3000);
    const fromBody = toKubeError({ code: 429, headers: {}, body: status({ retryAfterSeconds: 2 }) });
    expect([fromBody.retryAfterMs, fromBody.reason]).toEqual([2000, 'TooManyRequests']);
    expect(toKubeError({ code: 500, headers: {}, body: 'not json' }).retryAfterMs).toBeNull();
  });

  it('names the socket error behind "fetch failed"', () => {
    const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    const error = toKubeError(new TypeError('fetch failed', { cause }));
    expect([error.code, error.message]).toEqual([
      0,
      'Kubernetes API unreachable: fetch failed (ECONNREFUSED)',
    ]);
  });
});
