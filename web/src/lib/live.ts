import { io, type Socket } from 'socket.io-client';
import type { Job, LoginObject } from './types';

export type LiveStatus = 'connecting' | 'authenticating' | 'live' | 'reconnecting' | 'closed';

/**
 * The gateway's events that carry a job, by what they say about it. A new event type is a line
 * here; the compiler then points at what the job list must do with it (`state/jobs.ts`).
 */
export const JOB_EVENTS = {
  'job:progress': 'progress',
  'job:done': 'done',
  'job:failed': 'failed',
  'job:cancelled': 'cancelled',
} as const;
export type JobEventKind = (typeof JOB_EVENTS)[keyof typeof JOB_EVENTS];

export interface LiveHandlers {
  onStatus(status: LiveStatus): void;
  /**
   * Authenticated. `afterConnect` is true for the first answer after a (re)connect — the moment
   * to refetch what may have been missed — and false after re-authenticating a renewed token.
   */
  onAuthenticated(afterConnect: boolean): void;
  onJob(kind: JobEventKind, job: Job): void;
  /** The gateway lost events for a while (its own queue was rebuilt): refetch. */
  onResync(): void;
  onAuthError(reason: string): void;
}

export type SocketFactory = (url: string) => Socket;

const defaultFactory: SocketFactory = (url) =>
  io(url, {
    reconnection: true,
    reconnectionDelay: 1000,
    reconnectionDelayMax: 5000,
    timeout: 10000,
  });

/** The longest pause between tries while the gateway answers `unavailable`. */
export const UNAVAILABLE_RETRY_MAX_MS = 30_000;

/**
 * The `/user` namespace of the socket gateway. Authenticates on every `connect` (so a reconnect
 * after a network drop re-authenticates by itself) and again whenever the token is renewed.
 */
export class LiveConnection {
  private readonly socket: Socket;
  private login: LoginObject;
  /** The token for which an auth-error already earned one retry. */
  private retriedToken: string | null = null;
  private closed = false;
  private freshConnection = false;
  /** `auth-error "unavailable"` answers in a row, for the backoff. */
  private unavailableRetries = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(socketUrl: string, login: LoginObject, private readonly handlers: LiveHandlers, factory: SocketFactory = defaultFactory) {
    this.login = login;
    this.socket = factory(`${socketUrl.replace(/\/+$/, '')}/user`);
    const s = this.socket;
    handlers.onStatus('connecting');
    s.on('connect', () => {
      this.freshConnection = true;
      handlers.onStatus('authenticating');
      this.authenticate();
    });
    s.on('authenticated', () => {
      this.unavailableRetries = 0;
      handlers.onStatus('live');
      const afterConnect = this.freshConnection;
      this.freshConnection = false;
      handlers.onAuthenticated(afterConnect);
    });
    s.on('auth-error', (reason: unknown) => {
      // The gateway could not check the session (Redis or the broker blinked): nothing is wrong
      // with the session, so keep it and try again later, showing "reconnecting".
      if (reason === 'unavailable') {
        this.retryLater();
        return;
      }
      // The answer may be about a token renewed a moment ago (the gateway re-checks tokens on its
      // own schedule): try the current token once more before giving up on the session.
      if (this.retriedToken !== this.login.accessToken) {
        this.retriedToken = this.login.accessToken;
        this.authenticate();
        return;
      }
      handlers.onAuthError(typeof reason === 'string' ? reason : 'unknown');
    });
    s.on('disconnect', () => {
      if (!this.closed) handlers.onStatus('reconnecting');
    });
    s.on('connect_error', () => {
      if (!this.closed) handlers.onStatus('reconnecting');
    });
    s.on('resync', () => handlers.onResync());
    for (const [event, kind] of Object.entries(JOB_EVENTS)) s.on(event, (job: Job) => handlers.onJob(kind, job));
  }

  private authenticate(): void {
    this.socket.emit('authenticate', this.login);
  }

  /** Authenticates again after a growing pause (1 s, 2 s, 4 s … at most 30 s). */
  private retryLater(): void {
    if (this.closed) return;
    this.handlers.onStatus('reconnecting');
    const delay = Math.min(UNAVAILABLE_RETRY_MAX_MS, 1000 * 2 ** this.unavailableRetries);
    this.unavailableRetries += 1;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (!this.closed && this.socket.connected) this.authenticate();
    }, delay);
  }

  /** A renewed token: tell the gateway, so its periodic re-check sees the current one. */
  updateLogin(login: LoginObject): void {
    const changed = login.accessToken !== this.login.accessToken;
    this.login = login;
    if (changed && this.socket.connected) {
      this.handlers.onStatus('authenticating');
      this.authenticate();
    }
  }

  /** Polite goodbye: `deauthenticate` (waiting briefly for its ack), then disconnect. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.handlers.onStatus('closed');
    const s = this.socket;
    return new Promise<void>((resolve) => {
      const finish = () => {
        s.removeAllListeners();
        s.disconnect();
        resolve();
      };
      if (!s.connected) {
        finish();
        return;
      }
      s.timeout(1000).emit('deauthenticate', () => finish());
    });
  }

  /** Drops listeners and the connection at once (component teardown). */
  destroy(): void {
    this.closed = true;
    this.socket.removeAllListeners();
    this.socket.disconnect();
  }
}
