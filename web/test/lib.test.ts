import { describe, expect, it, vi } from 'vitest';
import { markSeen, mergeJobs, newerJob, normalizeJob, reconcileJobs, unseenFinished, expression } from '../src/lib/jobs';
import { LiveConnection, type LiveHandlers } from '../src/lib/live';
import { expiresAt, isExpired, loadSession, newSession, renewAt, saveSession } from '../src/lib/session';
import type { Job, LoginObject } from '../src/lib/types';
import { FakeSocket } from './fakeSocket';
import { loginObject } from './fixtures';

// Fixed times: the renewal arithmetic below is checked against them.
const login = (over: Partial<LoginObject> = {}): LoginObject => loginObject({ iat: 1_000_000, exp: 1_360_000, ...over });

describe('session timing', () => {
  it('renews at 80% of the lifetime, measured on the local clock', () => {
    // The server clock may be off: only exp - iat matters.
    const s = newSession(login({ iat: 5, exp: 360_005 }), 10_000);
    expect(renewAt(s)).toBe(10_000 + 288_000);
    expect(expiresAt(s)).toBe(370_000);
    expect(isExpired(s, 369_999)).toBe(false);
    expect(isExpired(s, 370_000)).toBe(true);
  });

  it('keeps a margin before expiry for very short tokens', () => {
    const s = newSession(login({ iat: 0, exp: 10_000 }), 0);
    expect(renewAt(s)).toBe(5_000);
    expect(renewAt(newSession(login({ iat: 0, exp: 2_000 }), 0))).toBe(1_000);
  });

  it('round-trips through storage and rejects junk', () => {
    const s = newSession(login(), 42);
    saveSession(s);
    expect(loadSession()).toEqual(s);
    localStorage.setItem('mom.session', '{"login":{}}');
    expect(loadSession()).toBeNull();
    saveSession(null);
    expect(localStorage.getItem('mom.session')).toBeNull();
  });
});

const baseJob = (over: Partial<Job> = {}): Job =>
  normalizeJob({
    id: 1,
    type: 'math',
    done: false,
    status: 'queued',
    details: [
      { method: 'add', numbers: '1,2,3' },
      { method: 'factors', numbers: '12,97' },
    ],
    stepsDone: 0,
    stepsTotal: 2,
    error: null,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: null,
    ...over,
  });

describe('jobs', () => {
  it('fills results from job:done `results` and derives status for seed-like jobs', () => {
    const j = normalizeJob({ id: 3, type: 'math', done: true, details: [{ method: 'add', numbers: '1,2' }], results: [3] } as never);
    expect(j.status).toBe('done');
    expect(j.details[0].result).toBe(3);
    expect(j.stepsDone).toBe(1);
    expect(j.stepsTotal).toBe(1);
  });

  it('never lets a late event move a job backwards', () => {
    const running = baseJob({ status: 'running', stepsDone: 1 });
    const done = baseJob({ status: 'done', done: true, stepsDone: 2 });
    expect(newerJob(done, running)).toBe(done);
    expect(newerJob(running, done)).toBe(done);
    expect(newerJob(running, baseJob({ status: 'running', stepsDone: 0 })).stepsDone).toBe(1);
    expect(newerJob(baseJob({ status: 'queued' }), running)).toBe(running);
  });

  it('lets a replayed job run again: a higher version beats an older failure', () => {
    const failed = baseJob({ status: 'failed', stepsDone: 1, error: 'step 2 (divide) failed', version: 3 });
    const reopened = baseJob({ status: 'running', stepsDone: 1, version: 4 });
    expect(newerJob(failed, reopened)).toBe(reopened);
    expect(newerJob(reopened, failed)).toBe(reopened);
    expect(reconcileJobs([failed], [reopened]).map((j) => j.status)).toEqual(['running']);
  });

  it('merges and sorts newest first; reconcile keeps live events ahead of a stale list', () => {
    const a = baseJob({ id: 1, createdAt: '2026-01-01T00:00:00.000Z' });
    const b = baseJob({ id: 2, createdAt: '2026-01-02T00:00:00.000Z' });
    expect(mergeJobs([a], [b]).map((j) => j.id)).toEqual([2, 1]);
    const liveDone = baseJob({ id: 2, status: 'done', done: true, stepsDone: 2, createdAt: b.createdAt });
    const later = Date.parse('2026-01-03T00:00:00.000Z');
    const merged = reconcileJobs([liveDone, a], [b], later);
    expect(merged.map((j) => [j.id, j.status])).toEqual([[2, 'done']]);
    // A job created seconds ago survives a list fetched just before it existed.
    const fresh = baseJob({ id: 3, createdAt: new Date(later - 2000).toISOString() });
    expect(reconcileJobs([fresh, liveDone], [b], later).map((j) => j.id)).toEqual([3, 2]);
  });

  it('reconcile keeps older pages the user loaded when the server sent only its first page', () => {
    const a = baseJob({ id: 1, createdAt: '2026-01-01T00:00:00.000Z' });
    const b = baseJob({ id: 2, createdAt: '2026-01-02T00:00:00.000Z' });
    const later = Date.parse('2026-01-03T00:00:00.000Z');
    expect(reconcileJobs([b, a], [b], later, true).map((j) => j.id)).toEqual([2, 1]);
    // Without more pages on the server, a job it no longer lists is gone.
    expect(reconcileJobs([b, a], [b], later, false).map((j) => j.id)).toEqual([2]);
  });

  it('tracks finished jobs shown per user', () => {
    const jobs = [baseJob({ id: 1, status: 'done', done: true }), baseJob({ id: 2, status: 'failed', error: 'x' }), baseJob({ id: 3, status: 'running' })];
    expect(unseenFinished(7, jobs)).toEqual([1, 2]);
    markSeen(7, [1]);
    expect(unseenFinished(7, jobs)).toEqual([2]);
    expect(unseenFinished(8, jobs)).toEqual([1, 2]);
  });

  it('writes readable expressions', () => {
    expect(expression({ method: 'multiply', numbers: '2,3,4' })).toBe('2 × 3 × 4');
    expect(expression({ method: 'factors', numbers: '12,97' })).toBe('12, 97');
  });
});

function connect() {
  const sock = new FakeSocket();
  const handlers: LiveHandlers = { onStatus: vi.fn(), onAuthenticated: vi.fn(), onJob: vi.fn(), onResync: vi.fn(), onAuthError: vi.fn() };
  let url = '';
  const conn = new LiveConnection('http://h:7080/', login(), handlers, (u) => ((url = u), sock as never));
  return { sock, handlers, conn, url: () => url };
}

describe('LiveConnection', () => {
  it('uses the /user namespace and authenticates on every connect, reconnects included', () => {
    const { sock, handlers, url } = connect();
    expect(url()).toBe('http://h:7080/user');
    sock.fire('connect');
    expect(sock.emitted).toEqual([['authenticate', login()]]);
    sock.fire('authenticated');
    expect(handlers.onStatus).toHaveBeenLastCalledWith('live');
    expect(handlers.onAuthenticated).toHaveBeenCalledTimes(1);
    sock.fire('disconnect', 'transport close');
    expect(handlers.onStatus).toHaveBeenLastCalledWith('reconnecting');
    sock.fire('connect');
    expect(sock.emitted.filter(([e]) => e === 'authenticate')).toHaveLength(2);
    sock.fire('authenticated');
    expect(handlers.onAuthenticated).toHaveBeenCalledTimes(2);
  });

  it('passes job events on', () => {
    const { sock, handlers } = connect();
    sock.fire('job:progress', { id: 1 });
    sock.fire('job:done', { id: 1 });
    sock.fire('job:failed', { id: 2 });
    expect(vi.mocked(handlers.onJob).mock.calls.map((c) => c[0])).toEqual(['progress', 'done', 'failed']);
  });

  it('passes a resync from the gateway on, without re-authenticating', () => {
    const { sock, handlers } = connect();
    sock.fire('connect');
    sock.fire('authenticated');
    sock.fire('resync');
    expect(handlers.onResync).toHaveBeenCalledTimes(1);
    expect(sock.emitted.filter(([e]) => e === 'authenticate')).toHaveLength(1);
  });

  it('re-authenticates with a renewed token', () => {
    const { sock, conn, handlers } = connect();
    sock.fire('connect');
    sock.fire('authenticated');
    conn.updateLogin(login({ accessToken: 'tok-2' }));
    expect(sock.emitted.at(-1)).toEqual(['authenticate', login({ accessToken: 'tok-2' })]);
    sock.fire('authenticated');
    // Re-authenticating a renewed token is no reason to refetch; a reconnect is.
    expect(vi.mocked(handlers.onAuthenticated).mock.calls).toEqual([[true], [false]]);
    conn.updateLogin(login({ accessToken: 'tok-2' }));
    expect(sock.emitted).toHaveLength(2);
  });

  it('retries an auth-error once per token before signing out', () => {
    const { sock, handlers, conn } = connect();
    sock.fire('connect');
    sock.fire('authenticated');
    conn.updateLogin(login({ accessToken: 'tok-2' }));
    // An answer about tok-1 crossing the renewal: one more try with tok-2, no sign-out.
    sock.fire('auth-error', 'old-token');
    expect(handlers.onAuthError).not.toHaveBeenCalled();
    expect(sock.emitted.filter(([e]) => e === 'authenticate')).toHaveLength(3);
    sock.fire('authenticated');
    // A second refusal of the same token is final.
    sock.fire('auth-error', 'token-expired');
    expect(handlers.onAuthError).toHaveBeenCalledWith('token-expired');
  });

  it('keeps the session through a gateway that cannot check it, retrying with backoff', () => {
    vi.useFakeTimers();
    try {
      const { sock, handlers } = connect();
      sock.fire('connect');
      const tries = () => sock.emitted.filter(([e]) => e === 'authenticate').length;
      expect(tries()).toBe(1);
      for (const [i, pause] of [1000, 2000, 4000, 8000].entries()) {
        sock.fire('auth-error', 'unavailable');
        expect(handlers.onStatus).toHaveBeenLastCalledWith('reconnecting');
        vi.advanceTimersByTime(pause - 1);
        expect(tries()).toBe(i + 1);
        vi.advanceTimersByTime(1);
        expect(tries()).toBe(i + 2);
      }
      expect(handlers.onAuthError).not.toHaveBeenCalled();
      sock.fire('authenticated');
      expect(handlers.onStatus).toHaveBeenLastCalledWith('live');
      // After a success the backoff starts over.
      sock.fire('auth-error', 'unavailable');
      vi.advanceTimersByTime(1000);
      expect(tries()).toBe(6);
      expect(handlers.onAuthError).not.toHaveBeenCalled();
    } finally {
      vi.useRealTimers();
    }
  });

  it('says goodbye with deauthenticate before disconnecting', async () => {
    const { sock, conn } = connect();
    sock.fire('connect');
    await conn.close();
    expect(sock.emitted.at(-1)?.[0]).toBe('deauthenticate');
    expect(sock.disconnected).toBe(true);
  });
});
