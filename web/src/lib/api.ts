import type {
  DeadLetter,
  DeadLetterCounts,
  DeadLetterFilter,
  DeadLetterPage,
  DeadLetterSelection,
  HistoryReport,
  Job,
  JobPage,
  JobStatus,
  LoginObject,
  QueuesReport,
  SafeUser,
} from './types';

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

  /** The job's status named by a 409 from `POST /job/{id}/cancel` (it had ended). */
  get endedStatus(): JobStatus | undefined {
    const b = this.body as { status?: unknown } | null;
    return this.status === 409 && b && typeof b.status === 'string' ? (b.status as JobStatus) : undefined;
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
  /** Sent as `Idempotency-Key`: the server answers a repeated write with its first outcome. */
  idempotencyKey?: string;
  auth?: boolean;
  /** Send this token instead of the session's, without treating a 401 as the session ending. */
  token?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Called with the response headers of a successful answer. */
  onHeaders?(headers: Headers): void;
}

const DEFAULT_TIMEOUT_MS = 15000;

/** Waits before each retry of a keyed write that got no answer or 502/503/504. */
export const WRITE_RETRY_DELAYS_MS: readonly number[] = [500, 1000, 2000, 4000];

/** A random UUID v4. `crypto.randomUUID` exists only in secure contexts (https, localhost). */
export function newIdempotencyKey(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * One key per form submission: submitting the same body again (after a failure) reuses the key,
 * so the server can never write it twice; a changed body gets a fresh key.
 */
export class SubmitKey {
  private body = '';
  private key = '';

  for(body: unknown): string {
    const text = JSON.stringify(body);
    if (!this.key || text !== this.body) {
      this.body = text;
      this.key = newIdempotencyKey();
    }
    return this.key;
  }

  /** The write succeeded: the next submission is a new one. */
  reset(): void {
    this.body = '';
    this.key = '';
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

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

  private readonly retryDelaysMs: readonly number[];

  constructor(
    baseUrl: string,
    hooks: ApiHooks,
    fetchImpl: typeof fetch = (...a) => fetch(...a),
    retryDelaysMs: readonly number[] = WRITE_RETRY_DELAYS_MS,
  ) {
    this.base = baseUrl.replace(/\/+$/, '');
    this.hooks = hooks;
    this.fetchImpl = fetchImpl;
    this.retryDelaysMs = retryDelaysMs;
  }

  /** A write with an Idempotency-Key, retried with the same key while the server is unavailable. */
  async write<T>(path: string, key: string, opts: RequestOptions): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.request<T>('POST', path, { ...opts, idempotencyKey: key });
      } catch (err) {
        const delay = this.retryDelaysMs[attempt];
        if (!(err instanceof ApiError && err.isUnavailable) || delay === undefined) throw err;
        await sleep(delay);
      }
    }
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
    if (opts.idempotencyKey) headers['Idempotency-Key'] = opts.idempotencyKey;
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

  register(input: { firstName: string; lastName: string; email: string; password: string }, key = newIdempotencyKey()) {
    return this.write<SafeUser>('/register', key, { body: input });
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

  createJob(details: { method: string; numbers: string }[], key = newIdempotencyKey()) {
    return this.write<Job>('/job', key, { auth: true, body: { type: 'math', details } });
  }

  /**
   * Cancels a queued or running job; answers the cancelled job. A job that has ended is a 409
   * whose body's `status` says how ({@link endedStatus}). Retried with `key` while unavailable.
   */
  cancelJob(id: number, key = newIdempotencyKey()) {
    return this.write<Job>(`/job/${id}/cancel`, key, { auth: true });
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

  /** Dead letters newest first (admins): up to `limit` below id `before`, filtered. */
  async deadLetters(query: DeadLetterFilter & { limit?: number; before?: number }, signal?: AbortSignal): Promise<DeadLetterPage> {
    const params = new URLSearchParams();
    if (query.limit !== undefined) params.set('limit', String(query.limit));
    if (query.before !== undefined) params.set('before', String(query.before));
    if (query.queue) params.set('queue', query.queue);
    if (query.jobId !== undefined) params.set('jobId', String(query.jobId));
    if (query.reason) params.set('reason', query.reason);
    let hasMore = false;
    const deadLetters = await this.request<DeadLetter[]>('GET', `/admin/dead-letters${params.size ? `?${params}` : ''}`, {
      auth: true,
      signal,
      timeoutMs: 5000,
      onHeaders: (h) => {
        hasMore = /rel="?next"?/.test(h.get('Link') ?? '');
      },
    });
    return { deadLetters, hasMore };
  }

  deadLetterCounts(signal?: AbortSignal) {
    return this.request<DeadLetterCounts>('GET', '/admin/dead-letters/counts', { auth: true, signal, timeoutMs: 5000 });
  }

  /** Puts dead letters back on their queues; not retried (a replay is not keyed). */
  replayDeadLetters(selection: DeadLetterSelection) {
    return this.request<{ replayed: number; notReplayable: number }>('POST', '/admin/dead-letters/replay', { auth: true, body: selection });
  }

  discardDeadLetters(selection: DeadLetterSelection) {
    return this.request<{ discarded: number }>('POST', '/admin/dead-letters/discard', { auth: true, body: selection });
  }

  queues(signal?: AbortSignal) {
    return this.request<QueuesReport>('GET', '/system/queues', { auth: true, signal, timeoutMs: 5000 });
  }

  history(signal?: AbortSignal) {
    return this.request<HistoryReport>('GET', '/system/history', { auth: true, signal, timeoutMs: 10000 });
  }
}
