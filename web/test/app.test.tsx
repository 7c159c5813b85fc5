import { act, render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { App } from '../src/App';
import { newSession, saveSession } from '../src/lib/session';
import type { Job, LoginObject } from '../src/lib/types';
import type { FakeSocket } from './fakeSocket';
import { loginObject } from './fixtures';

const { sockets } = vi.hoisted(() => ({ sockets: [] as FakeSocket[] }));

vi.mock('socket.io-client', async () => {
  const { FakeSocket } = await import('./fakeSocket');
  return {
    io: () => {
      const s = new FakeSocket();
      sockets.push(s);
      return s;
    },
  };
});

const config = { apiUrl: 'http://api.test', socketUrl: 'http://socket.test' };

function doneJob(id: number): Job {
  return {
    id,
    type: 'math',
    done: true,
    status: 'done',
    details: [{ method: 'add', numbers: '1,2,3', result: 6 }],
    stepsDone: 1,
    stepsTotal: 1,
    error: null,
    createdAt: new Date().toISOString(),
    updatedAt: new Date().toISOString(),
    finishedAt: new Date().toISOString(),
  };
}

type Route = (init: RequestInit, query: URLSearchParams) => [number, unknown] | [number, unknown, Record<string, string>];
let routes: Record<string, Route>;
const calls: { method: string; path: string; auth?: string; query: URLSearchParams }[] = [];

function json(status: number, body: unknown, headers: Record<string, string> = {}) {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } });
}

beforeEach(() => {
  sockets.length = 0;
  calls.length = 0;
  routes = {
    'GET /job/my': () => [200, []],
    'GET /logout': () => [200, { success: true }],
    'GET /system/queues': () => [200, { source: 'declare', queues: [] }],
  };
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init: RequestInit = {}) => {
      const { pathname: path, searchParams: query } = new URL(url);
      const method = init.method ?? 'GET';
      const headers = (init.headers ?? {}) as Record<string, string>;
      calls.push({ method, path, auth: headers.Authorization, query });
      const route = routes[`${method} ${path}`];
      if (!route) return json(404, { statusCode: 404 });
      const [status, body, responseHeaders] = route(init, query);
      return json(status, body, responseHeaders);
    }),
  );
  window.history.replaceState(null, '', '/jobs');
});

afterEach(() => {
  vi.unstubAllGlobals();
});

function signedIn(over: Partial<LoginObject> = {}) {
  saveSession(newSession(loginObject(over)));
}

describe('App session care', () => {
  it('sends signed-out visitors to the login page', async () => {
    render(<App config={config} />);
    await waitFor(() => expect(window.location.pathname).toBe('/login'));
    expect(screen.getByRole('heading', { name: 'Sign in' })).toBeTruthy();
  });

  it('signs out with a message when the API answers 401', async () => {
    signedIn();
    routes['GET /job/my'] = () => [401, { statusCode: 401, error: 'Unauthorized', message: { message: 'Old Token' } }];
    render(<App config={config} />);
    await waitFor(() => expect(window.location.pathname).toBe('/login'));
    expect(screen.getByTestId('flash').textContent).toMatch(/session has ended/);
    expect(localStorage.getItem('mom.session')).toBeNull();
    expect(calls[0]).toMatchObject({ path: '/job/my', auth: 'tok-1' });
  });

  it('authenticates the socket with the login object and signs out on a final auth-error', async () => {
    signedIn();
    render(<App config={config} />);
    await waitFor(() => expect(sockets).toHaveLength(1));
    const s = sockets[0];
    act(() => s.fire('connect'));
    expect(s.emitted[0]).toEqual(['authenticate', expect.objectContaining({ id: 7, accessToken: 'tok-1' })]);
    act(() => s.fire('authenticated'));
    expect(screen.getByTestId('live-status').getAttribute('data-status')).toBe('live');
    act(() => s.fire('auth-error', 'token-expired'));
    act(() => s.fire('auth-error', 'token-expired'));
    await waitFor(() => expect(window.location.pathname).toBe('/login'));
    expect(screen.getByTestId('flash').textContent).toMatch(/session expired/);
  });

  it('renews the token at ~80% of its lifetime and re-authenticates the socket', async () => {
    const now = Date.now();
    signedIn({ iat: now, exp: now + 2000 }); // renewal due after 1 s (short lifetimes keep half as margin)
    routes['GET /renew-token'] = () => [200, loginObject({ accessToken: 'tok-2' })];
    render(<App config={config} />);
    await waitFor(() => expect(sockets).toHaveLength(1));
    act(() => sockets[0].fire('connect'));
    await new Promise((r) => setTimeout(r, 300));
    expect(calls.some((c) => c.path === '/renew-token')).toBe(false);
    await waitFor(() => expect(calls.some((c) => c.path === '/renew-token')).toBe(true), { timeout: 3000 });
    const renew = calls.find((c) => c.path === '/renew-token')!;
    expect(renew.auth).toBe('tok-1');
    await waitFor(() => expect(sockets[0].emitted.at(-1)).toEqual(['authenticate', expect.objectContaining({ accessToken: 'tok-2' })]));
    expect(JSON.parse(localStorage.getItem('mom.session')!).login.accessToken).toBe('tok-2');
  });

  it('marks finished jobs not seen before as new, once', async () => {
    signedIn();
    routes['GET /job/my'] = () => [200, [doneJob(2), doneJob(1)]];
    localStorage.setItem('mom.seenJobs.7', '[1]');
    const { unmount } = render(<App config={config} />);
    await waitFor(() => expect(screen.getAllByTestId('job-card')).toHaveLength(2));
    const badges = screen.getAllByTestId('job-new');
    expect(badges).toHaveLength(1);
    expect(badges[0].closest('[data-testid="job-card"]')!.getAttribute('data-job-id')).toBe('2');
    unmount();
    render(<App config={config} />);
    await waitFor(() => expect(screen.getAllByTestId('job-card')).toHaveLength(2));
    expect(screen.queryByTestId('job-new')).toBeNull();
  });

  it('raises a toast when a job finishes while on another page, and updates the list live', async () => {
    signedIn({ role: 'admin' });
    window.history.replaceState(null, '', '/system');
    render(<App config={config} />);
    await waitFor(() => expect(sockets).toHaveLength(1));
    const s = sockets[0];
    act(() => {
      s.fire('connect');
      s.fire('authenticated');
      s.fire('job:done', { ...doneJob(5), results: [6] });
    });
    const toast = await screen.findByTestId('toast');
    expect(toast.textContent).toMatch(/Job #5 is done/);
    expect(screen.getByTestId('nav-jobs').textContent).toMatch(/1/);
  });

  it('shows a banner when the backend is unavailable', async () => {
    signedIn();
    routes['GET /job/my'] = () => [503, { statusCode: 503, error: 'Service Unavailable', message: 'db worker timed out' }];
    render(<App config={config} />);
    const banner = await screen.findByTestId('service-banner');
    expect(banner.textContent).toMatch(/unavailable right now \(db worker timed out\)/);
  });

  it('signs out politely: deauthenticate, then /logout with the old token', async () => {
    signedIn();
    render(<App config={config} />);
    await waitFor(() => expect(sockets).toHaveLength(1));
    act(() => sockets[0].fire('connect'));
    await act(async () => screen.getByTestId('sign-out').click());
    await waitFor(() => expect(calls.some((c) => c.path === '/logout')).toBe(true));
    expect(sockets[0].emitted.at(-1)?.[0]).toBe('deauthenticate');
    expect(calls.find((c) => c.path === '/logout')!.auth).toBe('tok-1');
    expect(window.location.pathname).toBe('/login');
    expect(screen.getByTestId('flash').textContent).toMatch(/signed out/);
  });
});

/** A finished job created `id` seconds into 2026, so the list's order is the id order. */
function oldJob(id: number, over: Partial<Job> = {}): Job {
  return { ...doneJob(id), createdAt: new Date(Date.UTC(2026, 0, 1) + id * 1000).toISOString(), ...over };
}

describe('App roles and the jobs list', () => {
  it('shows the System page to admins only', async () => {
    signedIn({ role: 'user' });
    window.history.replaceState(null, '', '/system');
    const { unmount } = render(<App config={config} />);
    expect(await screen.findByTestId('admins-only')).toBeTruthy();
    expect(screen.queryByTestId('nav-system')).toBeNull();
    expect(calls.some((c) => c.path === '/system/queues')).toBe(false);
    unmount();

    signedIn({ role: 'admin' });
    render(<App config={config} />);
    expect(await screen.findByTestId('nav-system')).toBeTruthy();
    await waitFor(() => expect(calls.some((c) => c.path === '/system/queues')).toBe(true));
    expect(screen.queryByTestId('admins-only')).toBeNull();
  });

  it('loads older jobs page by page while the server links a next page', async () => {
    signedIn();
    const older = [oldJob(3), oldJob(2)];
    routes['GET /job/my'] = (_init, query) => {
      if (query.get('before') === '4') return [200, older];
      return [200, [oldJob(5), oldJob(4)], { Link: '</job/my?limit=50&before=4>; rel="next"' }];
    };
    render(<App config={config} />);
    await waitFor(() => expect(screen.getAllByTestId('job-card')).toHaveLength(2));
    expect(calls[0].query.get('limit')).toBe('50');
    await userEvent.click(screen.getByTestId('load-more'));
    await waitFor(() => expect(screen.getAllByTestId('job-card')).toHaveLength(4));
    const ids = screen.getAllByTestId('job-card').map((c) => c.getAttribute('data-job-id'));
    expect(ids).toEqual(['5', '4', '3', '2']);
    // The last page had no Link: nothing more to load.
    expect(screen.queryByTestId('load-more')).toBeNull();
  });

  it('filters by status on the server and pages the filtered list', async () => {
    signedIn();
    const failed = (id: number) => oldJob(id, { status: 'failed', done: false, error: 'math service timed out' });
    routes['GET /job/my'] = (_init, query) => {
      if (query.get('status') === 'failed' && !query.has('before')) return [200, [failed(9)], { Link: '</job/my?status=failed&before=9>; rel="next"' }];
      if (query.get('status') === 'failed') return [200, [failed(1)]];
      return [200, [oldJob(10)]];
    };
    render(<App config={config} />);
    await waitFor(() => expect(screen.getAllByTestId('job-card')).toHaveLength(1));
    await userEvent.selectOptions(screen.getByTestId('job-status-filter'), 'failed');
    await waitFor(() => expect(screen.getAllByTestId('job-card').map((c) => c.getAttribute('data-job-id'))).toEqual(['9']));
    await userEvent.click(screen.getByTestId('load-more'));
    await waitFor(() => expect(screen.getAllByTestId('job-card').map((c) => c.getAttribute('data-job-id'))).toEqual(['9', '1']));
    const lastCall = calls.filter((c) => c.path === '/job/my').at(-1)!;
    expect([lastCall.query.get('status'), lastCall.query.get('before')]).toEqual(['failed', '9']);
    await userEvent.selectOptions(screen.getByTestId('job-status-filter'), '');
    await waitFor(() => expect(screen.getAllByTestId('job-card').map((c) => c.getAttribute('data-job-id'))).toEqual(['10']));
  });
});
