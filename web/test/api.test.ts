import { describe, expect, it, vi } from 'vitest';
import { Api, ApiError, SubmitKey, newIdempotencyKey } from '../src/lib/api';

type Answer = { status: number; body?: unknown } | 'network';

/** A fetch that answers from a script and records each request's Idempotency-Key. */
function scripted(answers: Answer[]) {
  const keys: (string | undefined)[] = [];
  const fetchImpl = vi.fn(async (_url: RequestInfo | URL, init?: RequestInit) => {
    keys.push((init?.headers as Record<string, string>)['Idempotency-Key']);
    const next = answers.shift();
    if (!next || next === 'network') throw new TypeError('Failed to fetch');
    return new Response(JSON.stringify(next.body ?? {}), { status: next.status });
  });
  const api = new Api('http://api', { token: () => 'tok' }, fetchImpl as typeof fetch, [0, 0, 0]);
  return { api, keys, fetchImpl };
}

const details = [{ method: 'add', numbers: '1,2' }];

describe('keyed writes', () => {
  it('retries 502/503/504 and network errors with the same key until the job is stored', async () => {
    const { api, keys } = scripted([{ status: 503 }, 'network', { status: 504 }, { status: 201, body: { id: 9 } }]);
    const job = await api.createJob(details, 'key-1');
    expect(job).toEqual({ id: 9 });
    expect(keys).toEqual(['key-1', 'key-1', 'key-1', 'key-1']);
  });

  it('gives up after the last backoff with the unavailable error', async () => {
    const { api, fetchImpl } = scripted([{ status: 502 }, { status: 503 }, { status: 503 }, { status: 503 }, { status: 201 }]);
    const err = await api.createJob(details, 'key-2').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(503);
    expect(fetchImpl).toHaveBeenCalledTimes(4);
  });

  it('does not retry answers that retrying cannot change', async () => {
    for (const status of [400, 401, 409, 422]) {
      const { api, fetchImpl } = scripted([{ status }, { status: 201 }]);
      await expect(api.register({ firstName: 'A', lastName: 'B', email: 'a@b.co', password: 'p' }, 'k')).rejects.toThrow();
      expect(fetchImpl).toHaveBeenCalledTimes(1);
    }
  });

  it('sends a fresh UUID when the caller gives no key', async () => {
    const { api, keys } = scripted([{ status: 201 }, { status: 201 }]);
    await api.createJob(details);
    await api.createJob(details);
    expect(keys[0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(keys[1]).not.toBe(keys[0]);
    expect(newIdempotencyKey()).not.toBe(newIdempotencyKey());
  });
});

describe('cancelJob', () => {
  it('posts to the job cancel route with its key, retrying while unavailable', async () => {
    const { api, keys, fetchImpl } = scripted([{ status: 503 }, { status: 200, body: { id: 9, status: 'cancelled' } }]);
    expect(await api.cancelJob(9, 'cancel-9')).toEqual({ id: 9, status: 'cancelled' });
    expect(keys).toEqual(['cancel-9', 'cancel-9']);
    const [url, init] = fetchImpl.mock.calls[0];
    expect(String(url)).toBe('http://api/job/9/cancel');
    expect(init?.method).toBe('POST');
  });

  it('reads the status a 409 names, and nothing from other errors', async () => {
    const body = { statusCode: 409, error: 'Conflict', message: 'job 9 has already ended: it is cancelled', status: 'cancelled' };
    const { api } = scripted([{ status: 409, body }, { status: 404, body: { statusCode: 404, message: 'job not found' } }]);
    const ended = (await api.cancelJob(9).catch((e: unknown) => e)) as ApiError;
    expect(ended.endedStatus).toBe('cancelled');
    const unknown = (await api.cancelJob(9).catch((e: unknown) => e)) as ApiError;
    expect(unknown.status).toBe(404);
    expect(unknown.endedStatus).toBeUndefined();
  });
});

describe('SubmitKey', () => {
  it('keeps one key for resubmitting the same body and takes a new one for a new body or after success', () => {
    const k = new SubmitKey();
    const first = k.for({ a: 1 });
    expect(k.for({ a: 1 })).toBe(first);
    const changed = k.for({ a: 2 });
    expect(changed).not.toBe(first);
    k.reset();
    expect(k.for({ a: 2 })).not.toBe(changed);
  });
});
