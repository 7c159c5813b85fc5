import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from '../src/lib/api';
import { JOB_EVENTS } from '../src/lib/live';
import { newSession, saveSession, SESSION_STORAGE_KEY } from '../src/lib/session';
import type { Job, JobPage, LoginObject, QueueInfo } from '../src/lib/types';
import { jobsOfStatus } from '../src/state/jobFilter';
import { JOBS_PAGE_SIZE, JobsStore } from '../src/state/jobs';
import { LiveStore } from '../src/state/live';
import { keepRenewed, SessionStore } from '../src/state/session';
import { QUEUE_HISTORY, recordDepths } from '../src/state/system';
import { FakeSocket } from './fakeSocket';
import { loginObject } from './fixtures';

const login = (over: Partial<LoginObject> = {}): LoginObject => loginObject(over, 100_000);

function job(id: number, over: Partial<Job> = {}): Job {
  return {
    id,
    type: 'math',
    done: false,
    status: 'running',
    details: [
      { method: 'add', numbers: '1,2', result: 3 },
      { method: 'multiply', numbers: '2,3' },
    ],
    stepsDone: 1,
    stepsTotal: 2,
    error: null,
    createdAt: new Date(Date.UTC(2026, 0, 1) + id * 1000).toISOString(),
    updatedAt: '',
    finishedAt: null,
    ...over,
  };
}

const done = (id: number): Job => job(id, { status: 'done', done: true, stepsDone: 2, details: [{ method: 'add', numbers: '1,2', result: 3 }, { method: 'multiply', numbers: '2,3', result: 6 }] });

function jobsStore(pages: (q: { before?: number }) => JobPage, over: { path?: string; userId?: () => number | null } = {}) {
  const myJobsPage = vi.fn(async (q: { before?: number }) => pages(q));
  const cancelJob = vi.fn(async (id: number, _key?: string): Promise<Job> => job(id, { status: 'cancelled', error: 'cancelled by its owner', finishedAt: '2026-01-01T00:00:09.000Z' }));
  const notify = vi.fn();
  const store = new JobsStore({ myJobsPage, cancelJob }, { userId: over.userId ?? (() => 7), path: () => over.path ?? '/new', notify });
  return { store, myJobsPage, cancelJob, notify };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('JobsStore', () => {
  it('applies live events to the list: a job moves on, never back, and its first finish is toasted once', async () => {
    const { store, notify } = jobsStore(() => ({ jobs: [job(2), job(1)], hasMore: false }));
    await store.refresh();
    expect(store.get().jobs.map((j) => j.status)).toEqual(['running', 'running']);

    // `job:done` may carry only `results` beside the details; the store fills the status in.
    store.applyEvent('done', { id: 2, createdAt: job(2).createdAt, details: [{ method: 'add', numbers: '1,2' }, { method: 'multiply', numbers: '2,3' }], results: [3, 6] } as Job);
    expect(store.get().jobs[0]).toMatchObject({ id: 2, status: 'done', done: true, stepsDone: 2 });
    expect(store.get().jobs[0].details[1].result).toBe(6);
    expect(store.get().newIds).toEqual(new Set([2]));
    expect(notify).toHaveBeenCalledTimes(1);
    expect(notify.mock.calls[0][0]).toMatchObject({ kind: 'success', title: 'Job #2 is done', link: { to: '/jobs' } });

    // A late progress event does not undo the finish; a repeated done raises nothing.
    store.applyEvent('progress', job(2));
    store.applyEvent('done', done(2));
    expect(store.get().jobs[0].status).toBe('done');
    expect(notify).toHaveBeenCalledTimes(1);

    store.applyEvent('failed', job(1, { status: 'failed', error: 'math service timed out' }));
    expect(notify.mock.calls[1][0]).toMatchObject({ kind: 'error', title: 'Job #1 failed', body: 'math service timed out' });
    expect(JSON.parse(localStorage.getItem('mom.seenJobs.7')!)).toEqual([2, 1]);
  });

  it('cancels a job: the answer moves it to cancelled, and its own event raises no toast', async () => {
    const { store, cancelJob, notify } = jobsStore(() => ({ jobs: [job(2), job(1)], hasMore: false }));
    await store.refresh();
    const cancelling = store.cancel(2);
    expect(store.get().cancelling).toEqual(new Set([2]));
    await cancelling;
    expect(cancelJob).toHaveBeenCalledWith(2, expect.any(String));
    expect(store.get().jobs[0]).toMatchObject({ id: 2, status: 'cancelled', error: 'cancelled by its owner' });
    expect(store.get().cancelling.size).toBe(0);
    store.applyEvent('cancelled', job(2, { status: 'cancelled' }));
    expect(notify).not.toHaveBeenCalled();

    // Cancelled elsewhere (another tab, an admin) while the user is on another page: a toast.
    store.applyEvent('cancelled', job(1, { status: 'running', error: 'cancelled by an admin' }));
    expect(store.get().jobs[1]).toMatchObject({ id: 1, status: 'cancelled', done: false });
    expect(notify.mock.calls[0][0]).toMatchObject({ kind: 'info', title: 'Job #1 was cancelled', body: 'cancelled by an admin' });
    // A late progress event does not bring it back.
    store.applyEvent('progress', job(1));
    expect(store.get().jobs[1].status).toBe('cancelled');
  });

  it('a cancel that finds the job ended says how, and a failed one is retried with the same key', async () => {
    const { store, cancelJob, myJobsPage } = jobsStore(() => ({ jobs: [job(3)], hasMore: false }));
    await store.refresh();
    cancelJob.mockRejectedValueOnce(new ApiError('network', 0, null, 'The server cannot be reached.'));
    await store.cancel(3);
    expect(store.get().cancelErrors.get(3)).toBe('Not cancelled: The server cannot be reached.');
    expect(store.get().jobs[0].status).toBe('running');
    const conflict = { statusCode: 409, error: 'Conflict', message: 'job 3 has already ended: it is done', status: 'done' };
    cancelJob.mockRejectedValueOnce(new ApiError('http', 409, conflict, conflict.message));
    myJobsPage.mockResolvedValueOnce({ jobs: [done(3)], hasMore: false });
    await store.cancel(3);
    expect(cancelJob.mock.calls[1][1]).toBe(cancelJob.mock.calls[0][1]);
    expect(store.get().cancelErrors.get(3)).toBe('It had already ended: done.');
    await vi.waitFor(() => expect(store.get().jobs[0].status).toBe('done'));
  });

  it('raises no toast and no "New" mark for a job finishing on the jobs page itself', async () => {
    const { store, notify } = jobsStore(() => ({ jobs: [job(3)], hasMore: false }), { path: '/jobs' });
    await store.refresh();
    store.applyEvent('done', done(3));
    expect(store.get().jobs[0].status).toBe('done');
    expect(notify).not.toHaveBeenCalled();
    expect(store.get().newIds.size).toBe(0);
  });

  it('coalesces refreshes asked for while one runs into one more request', async () => {
    let release = () => {};
    const { store, myJobsPage } = jobsStore(() => ({ jobs: [job(1)], hasMore: false }));
    myJobsPage.mockImplementationOnce(() => new Promise<JobPage>((r) => (release = () => r({ jobs: [], hasMore: false }))));
    const first = store.refresh();
    void store.refresh();
    void store.refresh();
    expect(myJobsPage).toHaveBeenCalledTimes(1);
    release();
    await first;
    expect(myJobsPage).toHaveBeenCalledTimes(2);
    expect(myJobsPage.mock.calls[0][0]).toEqual({ limit: JOBS_PAGE_SIZE });
    expect(store.get().jobs.map((j) => j.id)).toEqual([1]);
  });

  it('keeps older pages loaded with "Load older jobs" across a refresh of the first page', async () => {
    const { store, myJobsPage } = jobsStore(({ before }) => (before === 4 ? { jobs: [job(3)], hasMore: false } : { jobs: [job(5), job(4)], hasMore: true }));
    await store.refresh();
    expect(store.get().hasMore).toBe(true);
    await store.loadMore();
    expect(myJobsPage.mock.calls[1][0]).toEqual({ limit: JOBS_PAGE_SIZE, before: 4 });
    expect(store.get()).toMatchObject({ hasMore: false, loadingMore: false });
    await store.refresh();
    expect(store.get().jobs.map((j) => j.id)).toEqual([5, 4, 3]);
    // The first page still says "more", but the user has reached the end already.
    expect(store.get().hasMore).toBe(false);
  });

  it('drops an answer that arrives after the user changed', async () => {
    let user: number | null = 7;
    const { store, myJobsPage } = jobsStore(() => ({ jobs: [done(1)], hasMore: false }), { userId: () => user });
    myJobsPage.mockImplementationOnce(async () => {
      user = 8;
      return { jobs: [done(1)], hasMore: false };
    });
    await store.refresh();
    expect(store.get()).toMatchObject({ jobs: [], loaded: false });
  });

  it('reports a failed load, and forgets everything on reset', async () => {
    const { store, myJobsPage } = jobsStore(() => ({ jobs: [job(1)], hasMore: false }));
    await store.refresh();
    myJobsPage.mockRejectedValueOnce(new ApiError('network', 0, null, 'The API could not be reached.'));
    await store.refresh();
    expect(store.get()).toMatchObject({ error: 'The API could not be reached.', loaded: true });
    store.reset();
    expect(store.get()).toMatchObject({ jobs: [], loaded: false, error: null });
  });
});

describe('jobsOfStatus', () => {
  it('folds live changes into a filtered list', () => {
    const fetched = { status: 'running' as const, jobs: [job(5), job(3)], hasMore: false };
    // 5 finished live, 9 started after the fetch, 1 is older and was never part of the fetch.
    const live = [job(9), done(5), job(3), job(1)];
    expect(jobsOfStatus(fetched, live).map((j) => j.id)).toEqual([9, 3]);
  });
});

describe('recordDepths', () => {
  it('keeps the last minute of each queue', () => {
    const history = new Map<string, number[]>();
    for (let i = 1; i <= QUEUE_HISTORY + 5; i++) recordDepths(history, [{ name: 'db', messages: i } as QueueInfo, { name: 'math' } as QueueInfo]);
    expect(history.get('db')).toHaveLength(QUEUE_HISTORY);
    expect(history.get('db')!.at(-1)).toBe(QUEUE_HISTORY + 5);
    expect(history.get('db')![0]).toBe(6);
    expect(history.get('math')!.every((d) => d === 0)).toBe(true);
  });
});

describe('session renewal', () => {
  it('renews at 80% of the lifetime, then again for the new token', async () => {
    vi.useFakeTimers({ now: Date.UTC(2026, 0, 1) });
    saveSession(newSession(login()));
    const store = new SessionStore();
    const renewToken = vi.fn(async () => login({ accessToken: `tok-${renewToken.mock.calls.length + 1}` }));
    const stop = keepRenewed(store, { renewToken });

    await vi.advanceTimersByTimeAsync(79_999);
    expect(renewToken).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(renewToken).toHaveBeenCalledTimes(1);
    expect(store.token()).toBe('tok-2');
    expect(JSON.parse(localStorage.getItem(SESSION_STORAGE_KEY)!).login.accessToken).toBe('tok-2');

    await vi.advanceTimersByTimeAsync(80_000);
    expect(renewToken).toHaveBeenCalledTimes(2);
    expect(store.token()).toBe('tok-3');

    stop();
    await vi.advanceTimersByTimeAsync(200_000);
    expect(renewToken).toHaveBeenCalledTimes(2);
  });

  it('retries a failed renewal every 10 s, and signs out a tab that comes back after expiry', async () => {
    vi.useFakeTimers({ now: Date.UTC(2026, 0, 1) });
    saveSession(newSession(login()));
    const store = new SessionStore();
    const renewToken = vi.fn(async (): Promise<LoginObject> => {
      throw new ApiError('network', 0, null, 'The API could not be reached.');
    });
    const stop = keepRenewed(store, { renewToken });
    await vi.advanceTimersByTimeAsync(80_000);
    expect(renewToken).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(renewToken).toHaveBeenCalledTimes(2);
    expect(store.current()).not.toBeNull();

    // A throttled background tab: the clock moved on, no timer ran.
    vi.setSystemTime(Date.UTC(2026, 0, 1) + 100_000);
    document.dispatchEvent(new Event('visibilitychange'));
    expect(store.current()).toBeNull();
    expect(store.get().flash?.text).toMatch(/session expired/);
    expect(localStorage.getItem(SESSION_STORAGE_KEY)).toBeNull();
    stop();
  });

  it('never renews after a 401: the API hook has signed out already', async () => {
    vi.useFakeTimers({ now: Date.UTC(2026, 0, 1) });
    saveSession(newSession(login()));
    const store = new SessionStore();
    const renewToken = vi.fn(async (): Promise<LoginObject> => {
      throw new ApiError('http', 401, null, 'Unauthorized');
    });
    const stop = keepRenewed(store, { renewToken });
    await vi.advanceTimersByTimeAsync(95_000);
    expect(renewToken).toHaveBeenCalledTimes(1);
    stop();
  });
});

describe('SessionStore', () => {
  it('follows other tabs: a renewal is adopted, another user resets, a sign-out ends the session', () => {
    saveSession(newSession(login()));
    const store = new SessionStore();
    const reset = vi.fn();
    store.onUserReset(reset);

    store.followOtherTab(JSON.stringify(newSession(login({ accessToken: 'tok-2' }))));
    expect(store.token()).toBe('tok-2');
    expect(reset).not.toHaveBeenCalled();

    store.followOtherTab(JSON.stringify(newSession(login({ id: 8, accessToken: 'tok-8' }))));
    expect(store.current()?.login.id).toBe(8);
    expect(reset).toHaveBeenCalledTimes(1);

    window.history.replaceState(null, '', '/system');
    store.followOtherTab(null);
    expect(store.current()).toBeNull();
    expect(reset).toHaveBeenCalledTimes(2);
    expect(store.get().flash?.text).toBe('You signed out in another tab.');
    expect(window.location.pathname + window.location.search).toBe('/login?next=%2Fsystem');
  });

  it('starts signed out with a message when the stored session has expired', () => {
    saveSession(newSession(login({ iat: 0, exp: 1000 }), Date.now() - 5000));
    const store = new SessionStore();
    expect(store.current()).toBeNull();
    expect(store.get().flash?.text).toMatch(/expired/);
    expect(localStorage.getItem(SESSION_STORAGE_KEY)).toBeNull();
  });
});

describe('LiveStore', () => {
  function live() {
    const sock = new FakeSocket();
    const handlers = { onJob: vi.fn(), onReconnected: vi.fn(), onAuthError: vi.fn() };
    const store = new LiveStore('http://h:7080', handlers, () => sock as never);
    return { sock, handlers, store };
  }

  it('shows the connection status and asks for a refetch after each (re)connect', () => {
    const { sock, handlers, store } = live();
    store.start(login());
    expect(store.get().status).toBe('connecting');
    sock.fire('connect');
    expect(store.get().status).toBe('authenticating');
    sock.fire('authenticated');
    expect(store.get().status).toBe('live');
    expect(handlers.onReconnected).toHaveBeenCalledTimes(1);
    sock.fire('disconnect');
    expect(store.get().status).toBe('reconnecting');
    sock.fire('connect');
    sock.fire('authenticated');
    expect(handlers.onReconnected).toHaveBeenCalledTimes(2);
    // The gateway lost events (its queue was rebuilt) while this socket stayed connected.
    sock.fire('resync');
    expect(handlers.onReconnected).toHaveBeenCalledTimes(3);
    store.stop();
    expect(store.get().status).toBe('closed');
    expect(sock.disconnected).toBe(true);
  });

  it('passes every job event on with its kind', () => {
    const { sock, handlers, store } = live();
    store.start(login());
    for (const [event, kind] of Object.entries(JOB_EVENTS)) {
      sock.fire(event, job(1));
      expect(handlers.onJob).toHaveBeenLastCalledWith(kind, job(1));
    }
    expect(handlers.onJob).toHaveBeenCalledTimes(Object.keys(JOB_EVENTS).length);
  });

  it('says goodbye on close and drops the connection', async () => {
    const { sock, store } = live();
    store.start(login());
    sock.fire('connect');
    sock.fire('authenticated');
    await store.close();
    expect(sock.emitted.at(-1)?.[0]).toBe('deauthenticate');
    expect(store.get().status).toBe('closed');
    expect(sock.disconnected).toBe(true);
  });
});
