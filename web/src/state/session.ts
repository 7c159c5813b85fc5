import { flushSync } from 'react-dom';
import { ApiError, type Api } from '../lib/api';
import { currentPath, navigate } from '../lib/router';
import { expiresAt, isExpired, loadSession, newSession, parseSession, renewAt, saveSession, SESSION_STORAGE_KEY, type Session } from '../lib/session';
import type { LoginObject, SafeUser } from '../lib/types';
import { Store } from './store';

/** Pages for signed-out visitors; a signed-in user is sent on to the jobs. */
export const PUBLIC_ROUTES = new Set(['/login', '/register']);
const RENEW_RETRY_MS = 10000;

export interface Flash {
  kind: 'info' | 'success' | 'error';
  text: string;
}

export interface SessionState {
  session: Session | null;
  /** The message the login page shows: why the user is there. */
  flash: Flash | null;
  /** The e-mail just registered, for the login form. */
  prefillEmail?: string;
  signingOut: boolean;
}

/** Where a signed-out visitor of `path` is sent: the login page, coming back afterwards. */
export function loginPathFor(path: string): string {
  return PUBLIC_ROUTES.has(path) || path === '/' ? '/login' : `/login?next=${encodeURIComponent(path)}`;
}

/** The signed-in user (the login object in `localStorage`), how a session ends, and its renewal. */
export class SessionStore extends Store<SessionState> {
  private resetListeners = new Set<() => void>();

  constructor() {
    const stored = loadSession();
    const expired = stored !== null && isExpired(stored);
    if (expired) saveSession(null);
    super({
      session: expired ? null : stored,
      flash: expired ? { kind: 'info', text: 'Your session expired. Please sign in again.' } : null,
      signingOut: false,
    });
  }

  current(): Session | null {
    return this.get().session;
  }

  readonly token = (): string | null => this.current()?.login.accessToken ?? null;

  /** `fn` runs whenever what belongs to the signed-in user must go (its jobs, socket, toasts). */
  onUserReset(fn: () => void): () => void {
    this.resetListeners.add(fn);
    return () => {
      this.resetListeners.delete(fn);
    };
  }

  private resetUser(): void {
    for (const fn of [...this.resetListeners]) fn();
  }

  set(s: Session | null, persist = true): void {
    if (persist) saveSession(s);
    this.update({ session: s });
  }

  /** The session ended without the user asking (401, auth-error, expiry, another tab). */
  readonly end = (message: string, kind: Flash['kind'] = 'info'): void => {
    if (!this.current()) return;
    const path = currentPath();
    this.set(null);
    this.resetUser();
    this.update({ flash: { kind, text: message } });
    navigate(loginPathFor(path), { replace: true });
  };

  /** `next` is the page the user was sent away from; only a path on this origin is followed. */
  loggedIn(login: LoginObject, next: string | null): void {
    this.resetUser();
    this.update({ flash: null, prefillEmail: undefined });
    this.set(newSession(login));
    navigate(next && next.startsWith('/') && !next.startsWith('//') ? next : '/jobs', { replace: true });
  }

  registered(user: SafeUser): void {
    this.update({ prefillEmail: user.email, flash: { kind: 'success', text: `Welcome, ${user.firstName}! Your account is ready; sign in to continue.` } });
    navigate('/login');
  }

  /**
   * Says goodbye on the socket (`closeLive`) while the token is still valid, then drops every
   * screen that polls, and only then invalidates the token.
   */
  async signOut(api: Pick<Api, 'logout'>, closeLive: () => Promise<void>): Promise<void> {
    const s = this.current();
    if (!s || this.get().signingOut) return;
    this.update({ signingOut: true });
    await closeLive();
    flushSync(() => {
      this.set(null);
      this.resetUser();
      this.update({ flash: { kind: 'success', text: 'You have signed out.' }, signingOut: false });
    });
    navigate('/login', { replace: true });
    try {
      await api.logout(s.login.accessToken);
    } catch {
      /* the token is forgotten here either way */
    }
  }

  /** Another tab wrote the session (`raw`, null when it signed out): a renewal is adopted, a sign-out followed. */
  followOtherTab(raw: string | null): void {
    const other = parseSession(raw);
    const mine = this.current();
    if (!other) {
      if (mine) this.end('You signed out in another tab.');
      return;
    }
    if (mine && other.login.accessToken === mine.login.accessToken) return;
    if (mine && mine.login.id !== other.login.id) this.resetUser();
    this.set(other, false);
    if (PUBLIC_ROUTES.has(currentPath())) navigate('/jobs', { replace: true });
  }
}

/** Follows the session other tabs write to `localStorage`. Returns the unsubscribe. */
export function followOtherTabs(store: SessionStore): () => void {
  const onStorage = (e: StorageEvent) => {
    if (e.key !== SESSION_STORAGE_KEY && e.key !== null) return;
    store.followOtherTab(e.key === null ? null : e.newValue);
  };
  window.addEventListener('storage', onStorage);
  return () => window.removeEventListener('storage', onStorage);
}

/**
 * Renews each session at ~80% of its token's lifetime (`renewAt`), retrying every 10 s until it
 * expires, and catches up when a throttled background tab is shown again. Returns the stop.
 */
export function keepRenewed(store: SessionStore, api: Pick<Api, 'renewToken'>): () => void {
  let armedFor: Session | null = null;
  let stopLoop = () => {};
  const arm = () => {
    const s = store.current();
    if (s === armedFor) return;
    stopLoop();
    armedFor = s;
    stopLoop = s ? renewLoop(store, api, s) : () => {};
  };
  const unsubscribe = store.subscribe(arm);
  arm();
  return () => {
    unsubscribe();
    stopLoop();
  };
}

function renewLoop(store: SessionStore, api: Pick<Api, 'renewToken'>, session: Session): () => void {
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
      if (!cancelled) store.set(newSession(login));
    } catch (e) {
      if (cancelled) return;
      if (e instanceof ApiError && e.status === 401) return; // already signed out by the API's hook
      if (isExpired(session)) store.end('Your session expired. Please sign in again.');
      else schedule(Math.min(Date.now() + RENEW_RETRY_MS, expiresAt(session) - 1000));
    } finally {
      inFlight = false;
    }
  };
  schedule(renewAt(session));
  // Background tabs throttle timers: catch up when the tab is shown again.
  const onVisible = () => {
    if (document.visibilityState !== 'visible') return;
    if (isExpired(session)) store.end('Your session expired. Please sign in again.');
    else if (Date.now() >= renewAt(session)) void run();
  };
  document.addEventListener('visibilitychange', onVisible);
  return () => {
    cancelled = true;
    clearTimeout(timer);
    document.removeEventListener('visibilitychange', onVisible);
  };
}
