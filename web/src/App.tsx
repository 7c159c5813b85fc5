import { useEffect, type ComponentType, type ReactNode } from 'react';
import { Link } from './components/Link';
import { Toasts } from './components/Toasts';
import type { RuntimeConfig } from './lib/config';
import { navigate, useLocation } from './lib/router';
import { displayName } from './lib/session';
import { AdminsOnlyPage } from './pages/AdminsOnlyPage';
import { JobsPage } from './pages/JobsPage';
import { LoginPage } from './pages/LoginPage';
import { NewJobPage } from './pages/NewJobPage';
import { NotFoundPage } from './pages/NotFoundPage';
import { RegisterPage } from './pages/RegisterPage';
import { SystemPage } from './pages/SystemPage';
import { PanelStateProvider, usePanel } from './state/PanelState';
import { loginPathFor, PUBLIC_ROUTES } from './state/session';
import { useStore } from './state/store';

interface AdminPage {
  path: string;
  /** The navigation label and the page's name. */
  title: string;
  navTestId: string;
  Page: ComponentType;
}

/**
 * The machinery's pages: each gets a navigation link for admins and its route. The role here is
 * a hint for the navigation only: the API checks it on every admin request.
 */
const ADMIN_PAGES: AdminPage[] = [{ path: '/system', title: 'System', navTestId: 'nav-system', Page: SystemPage }];

export function App({ config }: { config: RuntimeConfig }) {
  return (
    <PanelStateProvider config={config}>
      <Layout />
    </PanelStateProvider>
  );
}

/** Routing and the frame around every page; the pages read their own state. */
function Layout() {
  const { api, session: sessionStore, banner: bannerStore, toasts: toastStore } = usePanel();
  const { session, flash, prefillEmail } = useStore(sessionStore);
  const banner = useStore(bannerStore).text;
  const { toasts } = useStore(toastStore);
  const loc = useLocation();
  const path = loc.path;
  const isPublic = PUBLIC_ROUTES.has(path);
  const isAdmin = session?.login.role === 'admin';

  useRedirects(session !== null, path);

  let content: ReactNode = null;
  const adminPage = ADMIN_PAGES.find((p) => p.path === path);
  if (!session) {
    if (path === '/register') content = <RegisterPage api={api} onRegistered={(user) => sessionStore.registered(user)} />;
    else if (path === '/login')
      content = (
        <LoginPage key={prefillEmail ?? ''} api={api} flash={flash} initialEmail={prefillEmail} onLoggedIn={(login) => sessionStore.loggedIn(login, loc.search.get('next'))} />
      );
  } else if (path === '/jobs') content = <JobsPage />;
  else if (path === '/new') content = <NewJobPage />;
  else if (adminPage) content = isAdmin ? <adminPage.Page /> : <AdminsOnlyPage title={adminPage.title} />;
  else if (!isPublic && path !== '/') content = <NotFoundPage />;

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
              <MainNav path={path} isAdmin={isAdmin} />
              <Account />
            </>
          )}
        </div>
      </header>
      {banner && (
        <div className="banner" role="alert" data-testid="service-banner">
          <div className="banner-inner">
            <span>{banner}</span>
            <button type="button" className="btn btn-ghost btn-small" onClick={bannerStore.hide}>
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
      <Toasts toasts={toasts} onDismiss={toastStore.dismiss} />
    </div>
  );
}

/** Signed-out visitors go to the login page (and come back after); signed-in ones skip it. */
function useRedirects(signedIn: boolean, path: string) {
  const isPublic = PUBLIC_ROUTES.has(path);
  useEffect(() => {
    if (!signedIn && !isPublic) {
      navigate(loginPathFor(path), { replace: true });
    } else if (signedIn && (isPublic || path === '/')) {
      navigate('/jobs', { replace: true });
    }
  }, [signedIn, isPublic, path]);
}

function MainNav({ path, isAdmin }: { path: string; isAdmin: boolean }) {
  const newCount = useStore(usePanel().jobs).newIds.size;
  const current = (to: string) => (path === to ? 'page' : undefined);
  return (
    <nav className="nav" aria-label="Main">
      <Link to="/jobs" aria-current={current('/jobs')} data-testid="nav-jobs">
        My jobs
        {newCount > 0 && (
          <span className="nav-badge" aria-label={`${newCount} new`}>
            {newCount}
          </span>
        )}
      </Link>
      <Link to="/new" aria-current={current('/new')} data-testid="nav-new">
        New job
      </Link>
      {isAdmin &&
        ADMIN_PAGES.map((p) => (
          <Link key={p.path} to={p.path} aria-current={current(p.path)} data-testid={p.navTestId}>
            {p.title}
          </Link>
        ))}
    </nav>
  );
}

/** Live status, the user's name and Sign out. */
function Account() {
  const { api, session: sessionStore, live } = usePanel();
  const { session, signingOut } = useStore(sessionStore);
  const { status } = useStore(live);
  if (!session) return null;
  return (
    <div className="account">
      <span className={`live live-${status}`} data-testid="live-status" data-status={status} title="Live updates">
        <span className="live-dot" aria-hidden="true" />
        <span className="live-text">{status === 'live' ? 'Live' : status === 'reconnecting' ? 'Reconnecting…' : 'Connecting…'}</span>
      </span>
      <span className="user-name" data-testid="user-name" title={session.login.email}>
        {displayName(session.login)}
      </span>
      <button type="button" className="btn btn-ghost btn-small" onClick={() => void sessionStore.signOut(api, () => live.close())} disabled={signingOut} data-testid="sign-out">
        {signingOut ? 'Signing out…' : 'Sign out'}
      </button>
    </div>
  );
}
