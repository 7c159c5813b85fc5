import type { LoginObject } from '../src/lib/types';

/** Ada's login object, issued now and valid for `ttlMs`, with `over` on top. */
export function loginObject(over: Partial<LoginObject> = {}, ttlMs = 360_000): LoginObject {
  const now = Date.now();
  return {
    id: 7,
    firstName: 'Ada',
    lastName: 'Lovelace',
    email: 'ada@example.com',
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    iat: now,
    exp: now + ttlMs,
    accessToken: 'tok-1',
    ...over,
  };
}
