import { LiveConnection, type JobEventKind, type LiveStatus, type SocketFactory } from '../lib/live';
import type { Job, LoginObject } from '../lib/types';
import { Store } from './store';

const AUTH_ERROR_TEXT: Record<string, string> = {
  'wrong-token': 'Your session is no longer valid.',
  'not-token-of-user': 'Your session does not match your account.',
  'old-token': 'You were signed in again elsewhere, so this session ended.',
  'token-expired': 'Your session expired.',
  'no-user': 'Your account could not be found.',
};

/** What the login page says after the gateway refused the session for `reason`. */
export function authErrorMessage(reason: string): string {
  return `${AUTH_ERROR_TEXT[reason] ?? 'Your session was refused by the live updates service.'} Please sign in again.`;
}

export interface LiveEventHandlers {
  onJob(kind: JobEventKind, job: Job): void;
  /** Connected (again) and authenticated, or told by the gateway to resync: events may have
   * been missed meanwhile. */
  onReconnected(): void;
  onAuthError(reason: string): void;
}

/** The signed-in user's socket.io connection and its status ("Live", "Reconnecting…"). */
export class LiveStore extends Store<{ status: LiveStatus }> {
  private conn: LiveConnection | null = null;

  constructor(
    private readonly socketUrl: string,
    private readonly handlers: LiveEventHandlers,
    private readonly factory?: SocketFactory,
  ) {
    super({ status: 'closed' });
  }

  start(login: LoginObject): void {
    this.stop();
    this.conn = new LiveConnection(
      this.socketUrl,
      login,
      {
        onStatus: (status) => this.update({ status }),
        onAuthenticated: (afterConnect) => {
          if (afterConnect) this.handlers.onReconnected();
        },
        onJob: this.handlers.onJob,
        onResync: () => this.handlers.onReconnected(),
        onAuthError: this.handlers.onAuthError,
      },
      this.factory,
    );
  }

  /** A renewed token goes to the gateway too. */
  updateLogin(login: LoginObject): void {
    this.conn?.updateLogin(login);
  }

  /** Polite goodbye (`deauthenticate`), for signing out. */
  async close(): Promise<void> {
    const conn = this.conn;
    this.conn = null;
    await conn?.close();
  }

  /** Drops the connection at once. */
  stop(): void {
    this.conn?.destroy();
    this.conn = null;
    if (this.get().status !== 'closed') this.update({ status: 'closed' });
  }
}
