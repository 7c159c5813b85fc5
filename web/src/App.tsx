import { useCallback, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { flushSync } from 'react-dom';
import { Link } from './components/Link';
import { Toasts, useToasts } from './components/Toasts';
import { Api, ApiError } from './lib/api';
import type { RuntimeConfig } from './lib/config';
import { isFinished, markSeen, mergeJobs, normalizeJob, reconcileJobs, unseenFinished } from './lib/jobs';
import { LiveConnection, type JobEventKind, type LiveStatus } from './lib/live';
import { navigate, useLocation } from './lib/router';
import {
  displayName,
  expiresAt,
  isExpired,
  loadSession,
  newSession,
  parseSession,
  renewAt,
  saveSession,
  SESSION_STORAGE_KEY,
  type Session,
} from './lib/session';
import type { Job, LoginObject } from './lib/types';
import { JobsPage } from './pages/JobsPage';
import { LoginPage, type Flash } from './pages/LoginPage';
import { NewJobPage } from './pages/NewJobPage';
import { NotFoundPage } from './pages/NotFoundPage';
import { RegisterPage } from './pages/RegisterPage';
import { AdminsOnlyPage, SystemPage } from './pages/SystemPage';

const AUTH_ERROR_TEXT: Record<string, string> = {
  'wrong-token': 'Your session is no longer valid.',
  'not-token-of-user': 'Your session does not match your account.',
  'old-token': 'You were signed in again elsewhere, so this session ended.',
  'token-expired': 'Your session expired.',
  'no-user': 'Your account could not be found.',
};

const PUBLIC_ROUTES = new Set(['/login', '/register']);
const JOB_POLL_MS = 5000;
/** Jobs per request of the jobs list; older ones come with "Load more". */
export const JOBS_PAGE_SIZE = 50;
const RENEW_RETRY_MS = 10000;

function initialSession(): { session: Session | null; expired: boolean } {
  const s = loadSession();
  if (s && isExpired(s)) {
    saveSession(null);
    return { session: null, expired: true };
  }
  return { session: s, expired: false };
}

export function App({ config }: { config: RuntimeConfig }) {
  const [boot] = useState(initialSession);
  const [session, setSessionState] = useState<Session | null>(boot.session);
  const [flash, setFlash] = useState<Flash | null>(boot.expired ? { kind: 'info', text: 'Your session expired. Please sign in again.' } : null);
  const [prefillEmail, setPrefillEmail] = useState<string | undefined>();
  const [banner, setBanner] = useState<string | null>(null);
  const [jobs, setJobs] = useState<Job[]>([]);
  const [jobsLoaded, setJobsLoaded] = useState(false);
  const [jobsError, setJobsError] = useState<string | null>(null);
  // Whether the server has jobs older than the oldest loaded; `extended` once the user loaded more.
  const [jobsHasMore, setJobsHasMore] = useState(false);
  const [loadingMore, setLoadingMore] = useState(false);
  const jobsExtended = useRef(false);
  const [newIds, setNewIds] = useState<Set<number>>(() => new Set());
  const [live, setLive] = useState<LiveStatus>('closed');
  const [signingOut, setSigningOut] = useState(false);
  const { toasts, push: pushToast, dismiss: dismissToast, clear: clearToasts } = useToasts();
  const loc = useLocation();

  const sessionRef = useRef(session);
  const pathRef = useRef(loc.path);
  pathRef.current = loc.path;
  const liveRef = useRef<LiveConnection | null>(null);
  const notified = useRef(new Set<number>());
  const jobsRef = useRef<Job[]>([]);
  jobsRef.current = jobs;

  const setSession = useCallback((s: Session | null, persist = true) => {
    sessionRef.current = s;
    if (persist) saveSession(s);
    setSessionState(s);
  }, []);

  const resetUserState = useCallback(() => {
    setJobs([]);
    setJobsLoaded(false);
    setJobsError(null);
    setJobsHasMore(false);
    jobsExtended.current = false;
    setNewIds(new Set());
    notified.current = new Set();
    clearToasts();
  }, [clearToasts]);

  /** The session ended without the user asking (401, auth-error, expiry, another tab). */
  const endSession = useCallback(
    (message: string, kind: Flash['kind'] = 'info') => {
      if (!sessionRef.current) return;
      liveRef.current?.destroy();
      liveRef.current = null;
      const next = pathRef.current;
      setSession(null);
      resetUserState();
      setFlash({ kind, text: message });
      navigate(PUBLIC_ROUTES.has(next) || next === '/' ? '/login' : `/login?next=${encodeURIComponent(next)}`, { replace: true });
    },
    [resetUserState, setSession],
  );
  const endSessionRef = useRef(endSession);
  endSessionRef.current = endSession;

  const api = useMemo(
    () =>
      new Api(config.apiUrl, {
        token: () => sessionRef.current?.login.accessToken ?? null,
        onUnauthorized: () => endSessionRef.current('Your session has ended. Please sign in again.'),
        onUnavailable: (e) =>
          setBanner(
            e.kind === 'http'
              ? `The service is unavailable right now${e.serverMessage ? ` (${e.serverMessage.replace(/[.\s]+$/, '')})` : ''}. Please try again in a moment.`
              : `${e.message} Check your connection; the panel keeps trying.`,
          ),
        onReachable: () => setBanner(null),
      }),
    [config.apiUrl],
  );

  const userId = session?.login.id ?? null;

  // ---- jobs ----

  // One /job/my request at a time; asks that arrive meanwhile coalesce into one more run after it.
  const refreshState = useRef<{ running: Promise<void> | null; again: boolean }>({ running: null, again: false });
  const loadJobsRef = useRef<() => Promise<void>>(async () => {});
  const refreshJobs = useCallback((): Promise<void> => {
    const st = refreshState.current;
    if (st.running) {
      st.again = true;
      return st.running;
    }
    const run = async () => {
      do {
        st.again = false;
        await loadJobsRef.current();
      } while (st.again);
    };
    st.running = run().finally(() => {
      st.running = null;
    });
    return st.running;
  }, []);

  const loadJobs = async () => {
    const s = sessionRef.current;
    if (!s) return;
    try {
      const page = await api.myJobsPage({ limit: JOBS_PAGE_SIZE });
      const list = page.jobs.map((j) => normalizeJob(j));
      if (sessionRef.current?.login.id !== s.login.id) return;
      const uid = s.login.id;
      const unseen = unseenFinished(uid, list);
      markSeen(uid, list.filter(isFinished).map((j) => j.id));
      for (const j of list) if (isFinished(j)) notified.current.add(j.id);
      if (unseen.length) setNewIds((cur) => new Set([...cur, ...unseen]));
      setJobs((cur) => reconcileJobs(cur, list, Date.now(), page.hasMore));
      if (!jobsExtended.current) setJobsHasMore(page.hasMore);
      setJobsLoaded(true);
      setJobsError(null);
    } catch (e) {
      if (sessionRef.current?.login.id !== s.login.id) return;
      if (e instanceof ApiError && e.status === 401) return;
      setJobsError(e instanceof Error ? e.message : 'unknown error');
    }
  };
  loadJobsRef.current = loadJobs;

  /** The next page below the oldest loaded job. Older jobs are not "new": they are marked seen. */
  const loadMoreJobs = async () => {
    const s = sessionRef.current;
    const loaded = jobsRef.current;
    if (!s || loaded.length === 0) return;
    setLoadingMore(true);
    try {
      const before = Math.min(...loaded.map((j) => j.id));
      const page = await api.myJobsPage({ limit: JOBS_PAGE_SIZE, before });
      if (sessionRef.current?.login.id !== s.login.id) return;
      const list = page.jobs.map((j) => normalizeJob(j));
      markSeen(s.login.id, list.filter(isFinished).map((j) => j.id));
      for (const j of list) if (isFinished(j)) notified.current.add(j.id);
      jobsExtended.current = true;
      setJobs((cur) => mergeJobs(cur, list));
      setJobsHasMore(page.hasMore);
      setJobsError(null);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return;
      setJobsError(e instanceof Error ? e.message : 'unknown error');
    } finally {
      setLoadingMore(false);
    }
  };

  const onJobEvent = useCallback(
    (kind: JobEventKind, raw: Job) => {
      const s = sessionRef.current;
      if (!s || !raw || typeof raw.id !== 'number') return;
      const patched: Job =
        kind === 'done' ? { ...raw, status: 'done', done: true } : kind === 'failed' ? { ...raw, status: 'failed', done: false } : raw;
      const job = normalizeJob(patched);
      setJobs((cur) => mergeJobs(cur, [job]));
      if (kind === 'progress' || notified.current.has(job.id)) return;
      notified.current.add(job.id);
      markSeen(s.login.id, [job.id]);
      if (pathRef.current === '/jobs') return;
      setNewIds((cur) => new Set(cur).add(job.id));
      pushToast({
        kind: kind === 'done' ? 'success' : 'error',
        title: kind === 'done' ? `Job #${job.id} is done` : `Job #${job.id} failed`,
        body: kind === 'done' ? `${job.stepsTotal} ${job.stepsTotal === 1 ? 'step' : 'steps'} finished.` : job.error ?? undefined,
        link: { to: '/jobs', label: 'View' },
      });
    },
    [pushToast],
  );

  // Load the jobs once per signed-in user.
  useEffect(() => {
    if (userId === null) return;
    void refreshJobs();
  }, [userId, refreshJobs]);

  // The live connection lives as long as the signed-in user.
  useEffect(() => {
    const s = sessionRef.current;
    if (userId === null || !s) return;
    const conn = new LiveConnection(config.socketUrl, s.login, {
      onStatus: setLive,
      onAuthenticated: (afterConnect) => {
        if (afterConnect) void refreshJobs();
      },
      onJob: onJobEvent,
      onAuthError: (reason) => endSessionRef.current(`${AUTH_ERROR_TEXT[reason] ?? 'Your session was refused by the live updates service.'} Please sign in again.`),
    });
    liveRef.current = conn;
    return () => {
      conn.destroy();
      if (liveRef.current === conn) liveRef.current = null;
      setLive('closed');
    };
  }, [userId, config.socketUrl, refreshJobs, onJobEvent]);

  // A renewed token goes to the socket too.
  const token = session?.login.accessToken;
  useEffect(() => {
    if (sessionRef.current && token) liveRef.current?.updateLogin(sessionRef.current.login);
  }, [token]);

  // While live updates are down and something is still running, poll instead.
  const hasActive = jobs.some((j) => !isFinished(j));
  useEffect(() => {
    if (userId === null || live === 'live' || !hasActive) return;
    const t = setInterval(() => void refreshJobs(), JOB_POLL_MS);
    return () => clearInterval(t);
  }, [userId, live, hasActive, refreshJobs]);

  // "New" marks last until the user has looked at the list and moved on.
  const prevPath = useRef(loc.path);
  useEffect(() => {
    if (prevPath.current === '/jobs' && loc.path !== '/jobs') setNewIds(new Set());
    prevPath.current = loc.path;
  }, [loc.path]);

  // ---- token renewal at ~80% of its lifetime ----

  useEffect(() => {
    if (!session) return;
    let cancelled = false;
    let inFlight = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const schedule = (at: number) => {
      clearTimeout(timer);
      timer = setTimeout(run, Math.max(0, at - Date.now()));
    };
    const run = async () => {
      if (cancelled || inFlight) return;
      clearTimeout(timer);
      inFlight = true;
      try {
        const login = await api.renewToken();
        if (!cancelled) setSession(newSession(login));
      } catch (e) {
        if (cancelled) return;
        if (e instanceof ApiError && e.status === 401) return; // already signed out by the API hook
        if (isExpired(session)) endSessionRef.current('Your session expired. Please sign in again.');
        else schedule(Math.min(Date.now() + RENEW_RETRY_MS, expiresAt(session) - 1000));
      } finally {
        inFlight = false;
      }
    };
    schedule(renewAt(session));
    // Background tabs throttle timers: catch up when the tab is shown again.
    const onVisible = () => {
      if (document.visibilityState !== 'visible') return;
      if (isExpired(session)) endSessionRef.current('Your session expired. Please sign in again.');
      else if (Date.now() >= renewAt(session)) void run();
    };
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      cancelled = true;
      clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [session, api, setSession]);

  // Other tabs: a renewal there is adopted here, a sign-out there signs out here.
  useEffect(() => {
    const onStorage = (e: StorageEvent) => {
      if (e.key !== SESSION_STORAGE_KEY && e.key !== null) return;
      const other = parseSession(e.key === null ? null : e.newValue);
      const mine = sessionRef.current;
      if (!other) {
        if (mine) endSessionRef.current('You signed out in another tab.');
        return;
      }
      if (!mine || other.login.accessToken !== mine.login.accessToken) {
        if (mine && mine.login.id !== other.login.id) resetUserState();
        setSession(other, false);
        if (PUBLIC_ROUTES.has(pathRef.current)) navigate('/jobs', { replace: true });
      }
    };
    window.addEventListener('storage', onStorage);
    return () => window.removeEventListener('storage', onStorage);
  }, [resetUserState, setSession]);

  // ---- actions ----

  const onLoggedIn = (login: LoginObject) => {
    resetUserState();
    setFlash(null);
    setPrefillEmail(undefined);
    setSession(newSession(login));
    const nextParam = loc.search.get('next');
    navigate(nextParam && nextParam.startsWith('/') && !nextParam.startsWith('//') ? nextParam : '/jobs', { replace: true });
  };

  const signOut = async () => {
    const s = sessionRef.current;
    if (!s || signingOut) return;
    setSigningOut(true);
    // Say goodbye on the socket while the token is still valid, then drop every screen that
    // polls, and only then invalidate the token.
    const conn = liveRef.current;
    liveRef.current = null;
    await conn?.close();
    flushSync(() => {
      setSession(null);
      resetUserState();
      setFlash({ kind: 'success', text: 'You have signed out.' });
      setSigningOut(false);
    });
    navigate('/login', { replace: true });
    try {
      await api.logout(s.login.accessToken);
    } catch {
      /* the token is forgotten here either way */
    }
  };

  // ---- routing ----

  const path = loc.path;
  const isPublic = PUBLIC_ROUTES.has(path);
  // A hint for the navigation only: the API checks the role on every admin request.
  const isAdmin = session?.login.role === 'admin';
  useEffect(() => {
    if (!session && !isPublic) {
      navigate(path === '/' ? '/login' : `/login?next=${encodeURIComponent(path)}`, { replace: true });
    } else if (session && (isPublic || path === '/')) {
      navigate('/jobs', { replace: true });
    }
  }, [session, isPublic, path]);

  let content: ReactNode = null;
  if (!session) {
    if (path === '/register')
      content = (
        <RegisterPage
          api={api}
          onRegistered={(user) => {
            setPrefillEmail(user.email);
            setFlash({ kind: 'success', text: `Welcome, ${user.firstName}! Your account is ready; sign in to continue.` });
            navigate('/login');
          }}
        />
      );
    else if (path === '/login') content = <LoginPage key={prefillEmail ?? ''} api={api} flash={flash} initialEmail={prefillEmail} onLoggedIn={onLoggedIn} />;
  } else if (path === '/jobs') {
    content = (
      <JobsPage
        api={api}
        jobs={jobs}
        loaded={jobsLoaded}
        error={jobsError}
        newIds={newIds}
        onRetry={() => void refreshJobs()}
        hasMore={jobsHasMore}
        loadingMore={loadingMore}
        onLoadMore={() => void loadMoreJobs()}
      />
    );
  } else if (path === '/new') {
    content = (
      <NewJobPage
        api={api}
        onCreated={(raw) => {
          const job = normalizeJob(raw);
          setJobs((cur) => mergeJobs(cur, [job]));
          setJobsLoaded(true);
          navigate('/jobs');
          pushToast({ kind: 'info', title: `Job #${job.id} ordered`, body: `${job.stepsTotal} ${job.stepsTotal === 1 ? 'step is' : 'steps are'} on the queue.` });
        }}
      />
    );
  } else if (path === '/system') {
    content = isAdmin ? <SystemPage api={api} /> : <AdminsOnlyPage />;
  } else if (!isPublic && path !== '/') {
    content = <NotFoundPage />;
  }

  const newCount = newIds.size;

  return (
    <div className="app">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <div className="topbar-inner">
          <Link className="brand" to={session ? '/jobs' : '/login'} aria-label="mom home">
            <svg aria-hidden="true" viewBox="0 0 32 32" width="28" height="28">
              <rect width="32" height="32" rx="8" fill="currentColor" />
              <path d="M7 22V11l4.5 6L16 11l4.5 6L25 11v11" fill="none" stroke="#fff" strokeWidth="2.6" strokeLinecap="round" strokeLinejoin="round" />
            </svg>
            <span>mom</span>
          </Link>
          {session && (
            <>
              <nav className="nav" aria-label="Main">
                <Link to="/jobs" aria-current={path === '/jobs' ? 'page' : undefined} data-testid="nav-jobs">
                  My jobs
                  {newCount > 0 && (
                    <span className="nav-badge" aria-label={`${newCount} new`}>
                      {newCount}
                    </span>
                  )}
                </Link>
                <Link to="/new" aria-current={path === '/new' ? 'page' : undefined} data-testid="nav-new">
                  New job
                </Link>
                {isAdmin && (
                  <Link to="/system" aria-current={path === '/system' ? 'page' : undefined} data-testid="nav-system">
                    System
                  </Link>
                )}
              </nav>
              <div className="account">
                <span className={`live live-${live}`} data-testid="live-status" data-status={live} title="Live updates">
                  <span className="live-dot" aria-hidden="true" />
                  <span className="live-text">{live === 'live' ? 'Live' : live === 'reconnecting' ? 'Reconnecting…' : 'Connecting…'}</span>
                </span>
                <span className="user-name" data-testid="user-name" title={session.login.email}>
                  {displayName(session.login)}
                </span>
                <button type="button" className="btn btn-ghost btn-small" onClick={() => void signOut()} disabled={signingOut} data-testid="sign-out">
                  {signingOut ? 'Signing out…' : 'Sign out'}
                </button>
              </div>
            </>
          )}
        </div>
      </header>
      {banner && (
        <div className="banner" role="alert" data-testid="service-banner">
          <div className="banner-inner">
            <span>{banner}</span>
            <button type="button" className="btn btn-ghost btn-small" onClick={() => setBanner(null)}>
              Dismiss
            </button>
          </div>
        </div>
      )}
      <main id="main" className="main">
        {content}
      </main>
      <footer className="footer">
        <span>mom — a message-oriented backend</span>
      </footer>
      <Toasts toasts={toasts} onDismiss={dismissToast} />
    </div>
  );
}
