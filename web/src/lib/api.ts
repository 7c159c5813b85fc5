import type { Job, JobPage, JobStatus, LoginObject, QueuesReport, SafeUser } from './types';

export type ApiErrorKind = 'http' | 'network' | 'timeout';

/** An error from the REST API: an HTTP status with its JSON body, or no answer at all. */
export class ApiError extends Error {
  readonly kind: ApiErrorKind;
  readonly status: number;
  readonly body: unknown;

  constructor(kind: ApiErrorKind, status: number, body: unknown, message: string) {
    super(message);
    this.name = 'ApiError';
    this.kind = kind;
    this.status = status;
    this.body = body;
  }

  /** The server (or what stands in front of it) cannot do the work right now. */
  get isUnavailable(): boolean {
    return this.kind !== 'http' || this.status === 502 || this.status === 503 || this.status === 504;
  }

  /** The `message` field of a Nest-style error body, when it is a plain string. */
  get serverMessage(): string | undefined {
    const b = this.body as { message?: unknown } | null;
    return b && typeof b.message === 'string' ? b.message : undefined;
  }
}

export interface ApiHooks {
  /** The current access token, or null when signed out. */
  token(): string | null;
  /** An authenticated request got 401: the session is over. */
  onUnauthorized?(err: ApiError): void;
  /** The backend did not answer or answered 502/503/504. */
  onUnavailable?(err: ApiError): void;
  /** Any answer that was not "unavailable": the backend is reachable again. */
  onReachable?(): void;
}

interface RequestOptions {
  body?: unknown;
  auth?: boolean;
  /** Send this token instead of the session's, without treating a 401 as the session ending. */
  token?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Called with the response headers of a successful answer. */
  onHeaders?(headers: Headers): void;
}

const DEFAULT_TIMEOUT_MS = 15000;

function describeStatus(status: number, body: unknown): string {
  const b = body as { message?: unknown; error?: unknown } | null;
  if (b && typeof b.message === 'string') return b.message;
  if (b && typeof b.error === 'string') return b.error;
  return `Request failed with status ${status}`;
}

export class Api {
  private readonly base: string;
  private readonly hooks: ApiHooks;
  private readonly fetchImpl: typeof fetch;

  constructor(baseUrl: string, hooks: ApiHooks, fetchImpl: typeof fetch = (...a) => fetch(...a)) {
    this.base = baseUrl.replace(/\/+$/, '');
    this.hooks = hooks;
    this.fetchImpl = fetchImpl;
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
    if (opts.token) headers.Authorization = opts.token;
    else if (opts.auth) {
      const token = this.hooks.token();
      if (token) headers.Authorization = token;
    }
    const ctrl = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ctrl.abort();
    }, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const onOuterAbort = () => ctrl.abort();
    opts.signal?.addEventListener('abort', onOuterAbort);

    let res: Response;
    try {
      res = await this.fetchImpl(this.base + path, {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: ctrl.signal,
        mode: 'cors',
      });
    } catch (e) {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onOuterAbort);
      if (opts.signal?.aborted) throw e;
      const err = timedOut
        ? new ApiError('timeout', 0, null, 'The server did not answer in time.')
        : new ApiError('network', 0, null, 'The server cannot be reached.');
      this.hooks.onUnavailable?.(err);
      throw err;
    }
    let text = '';
    try {
      text = await res.text();
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onOuterAbort);
    }
    let body: unknown = null;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    if (res.ok) {
      this.hooks.onReachable?.();
      opts.onHeaders?.(res.headers);
      return body as T;
    }
    const err = new ApiError('http', res.status, body, describeStatus(res.status, body));
    if (err.isUnavailable) this.hooks.onUnavailable?.(err);
    else this.hooks.onReachable?.();
    if (res.status === 401 && opts.auth) this.hooks.onUnauthorized?.(err);
    throw err;
  }

  register(input: { firstName: string; lastName: string; email: string; password: string }) {
    return this.request<SafeUser>('POST', '/register', { body: input });
  }

  login(input: { email: string; password: string }) {
    return this.request<LoginObject>('POST', '/login', { body: input });
  }

  renewToken() {
    return this.request<LoginObject>('GET', '/renew-token', { auth: true });
  }

  /** Invalidates `token` on the server (the session is usually already gone locally). */
  logout(token: string) {
    return this.request<{ success: boolean }>('GET', '/logout', { token, timeoutMs: 5000 });
  }

  createJob(details: { method: string; numbers: string }[]) {
    return this.request<Job>('POST', '/job', { auth: true, body: { type: 'math', details } });
  }

  myJobs(signal?: AbortSignal) {
    return this.request<Job[]>('GET', '/job/my', { auth: true, signal });
  }

  /** Newest first: up to `limit` jobs below job `before`, optionally of one status. */
  async myJobsPage(query: { limit?: number; before?: number; status?: JobStatus }, signal?: AbortSignal): Promise<JobPage> {
    const params = new URLSearchParams();
    if (query.limit !== undefined) params.set('limit', String(query.limit));
    if (query.before !== undefined) params.set('before', String(query.before));
    if (query.status) params.set('status', query.status);
    let hasMore = false;
    const jobs = await this.request<Job[]>('GET', `/job/my${params.size ? `?${params}` : ''}`, {
      auth: true,
      signal,
      onHeaders: (h) => {
        hasMore = /rel="?next"?/.test(h.get('Link') ?? '');
      },
    });
    return { jobs, hasMore };
  }

  queues(signal?: AbortSignal) {
    return this.request<QueuesReport>('GET', '/system/queues', { auth: true, signal, timeoutMs: 5000 });
  }
}
