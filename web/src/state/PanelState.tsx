import { createContext, useContext, useEffect, useRef, useState, type ReactNode } from 'react';
import { Api } from '../lib/api';
import type { RuntimeConfig } from '../lib/config';
import { isFinished } from '../lib/jobs';
import type { SocketFactory } from '../lib/live';
import { currentPath, useLocation } from '../lib/router';
import { BannerStore } from './banner';
import { JobsStore } from './jobs';
import { authErrorMessage, LiveStore } from './live';
import { followOtherTabs, keepRenewed, SessionStore } from './session';
import { useStore } from './store';
import { ToastStore } from './toasts';

/** While live updates are down and a job is still running, the list is polled this often. */
const JOB_POLL_MS = 5000;

/** Every store of the panel, made once per page load. */
export interface PanelState {
  api: Api;
  session: SessionStore;
  live: LiveStore;
  jobs: JobsStore;
  toasts: ToastStore;
  banner: BannerStore;
}

/** Builds the stores and wires what one tells another (a 401 ends the session, an event moves a job). */
export function createPanelState(config: RuntimeConfig, socketFactory?: SocketFactory): PanelState {
  const session = new SessionStore();
  const banner = new BannerStore();
  const toasts = new ToastStore();
  const api = new Api(config.apiUrl, {
    token: session.token,
    onUnauthorized: () => session.end('Your session has ended. Please sign in again.'),
    onUnavailable: banner.show,
    onReachable: banner.hide,
  });
  const jobs = new JobsStore(api, { userId: () => session.current()?.login.id ?? null, path: currentPath, notify: toasts.push });
  const live = new LiveStore(
    config.socketUrl,
    {
      onJob: jobs.applyEvent,
      onReconnected: () => void jobs.refresh(),
      onAuthError: (reason) => session.end(authErrorMessage(reason)),
    },
    socketFactory,
  );
  session.onUserReset(() => {
    live.stop();
    jobs.reset();
    toasts.clear();
  });
  return { api, session, live, jobs, toasts, banner };
}

const PanelContext = createContext<PanelState | null>(null);

/** The stores of the panel; pages read the ones they show (`usePanel`, `useStore`). */
export function usePanel(): PanelState {
  const state = useContext(PanelContext);
  if (!state) throw new Error('usePanel needs a <PanelStateProvider> above it');
  return state;
}

/**
 * Makes the stores and runs what lasts as long as a signed-in user: the job list's first load,
 * the socket, token renewal, following other tabs, polling while the socket is down.
 */
export function PanelStateProvider({ config, children }: { config: RuntimeConfig; children: ReactNode }) {
  const [state] = useState(() => createPanelState(config));
  const { session, live, jobs, api } = state;
  const current = useStore(session).session;
  const userId = current?.login.id ?? null;
  const token = current?.login.accessToken;
  const { status } = useStore(live);
  const hasActive = useStore(jobs).jobs.some((j) => !isFinished(j));
  const loc = useLocation();

  useEffect(() => keepRenewed(session, api), [session, api]);
  useEffect(() => followOtherTabs(session), [session]);

  // Load the jobs and open the socket once per signed-in user.
  useEffect(() => {
    const s = session.current();
    if (userId === null || !s) return;
    void jobs.refresh();
    live.start(s.login);
    return () => live.stop();
  }, [userId, session, jobs, live]);

  // A renewed token goes to the socket too.
  useEffect(() => {
    const s = session.current();
    if (s && token) live.updateLogin(s.login);
  }, [token, session, live]);

  useEffect(() => {
    if (userId === null || status === 'live' || !hasActive) return;
    const t = setInterval(() => void jobs.refresh(), JOB_POLL_MS);
    return () => clearInterval(t);
  }, [userId, status, hasActive, jobs]);

  // "New" marks last until the user has looked at the list and moved on.
  const prevPath = useRef(loc.path);
  useEffect(() => {
    if (prevPath.current === '/jobs' && loc.path !== '/jobs') jobs.clearNew();
    prevPath.current = loc.path;
  }, [loc.path, jobs]);

  return <PanelContext.Provider value={state}>{children}</PanelContext.Provider>;
}
