import { ApiError, newIdempotencyKey, type Api } from '../lib/api';
import { isFinished, markSeen, mergeJobs, normalizeJob, reconcileJobs, statusLabel, unseenFinished } from '../lib/jobs';
import type { JobEventKind } from '../lib/live';
import type { Job } from '../lib/types';
import { Store } from './store';
import type { Toast } from './toasts';

/** Jobs per request of the jobs list; older ones come with "Load older jobs". */
export const JOBS_PAGE_SIZE = 50;

export interface JobsState {
  /** Every loaded job, newest first, kept live. */
  jobs: Job[];
  loaded: boolean;
  error: string | null;
  /** Whether the server has jobs older than the oldest loaded. */
  hasMore: boolean;
  loadingMore: boolean;
  /** Finished jobs the user has not looked at yet ("New"). */
  newIds: Set<number>;
  /** Jobs whose cancel request is on its way. */
  cancelling: Set<number>;
  /** Why the last cancel of a job did not happen, by job id. */
  cancelErrors: Map<number, string>;
}

function empty(): JobsState {
  return { jobs: [], loaded: false, error: null, hasMore: false, loadingMore: false, newIds: new Set(), cancelling: new Set(), cancelErrors: new Map() };
}

type ToastContent = Omit<Toast, 'id' | 'link'>;

/** How each live event changes its job beyond the fields it carries. */
const EVENT_PATCH: Record<JobEventKind, Partial<Job>> = {
  progress: {},
  done: { status: 'done', done: true },
  failed: { status: 'failed', done: false },
  cancelled: { status: 'cancelled', done: false },
};

/** The toast for a job that reached this state while the user was on another page (null: none). */
const EVENT_TOAST: Record<JobEventKind, ((job: Job) => ToastContent) | null> = {
  progress: null,
  done: (job) => ({ kind: 'success', title: `Job #${job.id} is done`, body: `${job.stepsTotal} ${job.stepsTotal === 1 ? 'step' : 'steps'} finished.` }),
  failed: (job) => ({ kind: 'error', title: `Job #${job.id} failed`, body: job.error ?? undefined }),
  cancelled: (job) => ({ kind: 'info', title: `Job #${job.id} was cancelled`, body: job.error ?? undefined }),
};

export interface JobsDeps {
  /** The signed-in user's id; answers that arrive for another user are dropped. */
  userId(): number | null;
  /** The path shown now: a job finishing on the jobs page itself raises no toast. */
  path(): string;
  notify(toast: Omit<Toast, 'id'>): void;
}

/** The signed-in user's job list: first page, older pages, live events, "New" marks. */
export class JobsStore extends Store<JobsState> {
  /** Whether the user loaded older pages: a refresh of the first page then keeps them. */
  private extended = false;
  /** Finished jobs already shown or toasted, so a repeated event raises nothing. */
  private notified = new Set<number>();
  private refreshing: Promise<void> | null = null;
  private refreshAgain = false;
  /** One Idempotency-Key per job: clicking Cancel again after a failure retries the same cancel. */
  private cancelKeys = new Map<number, string>();

  constructor(
    private readonly api: Pick<Api, 'myJobsPage' | 'cancelJob'>,
    private readonly deps: JobsDeps,
  ) {
    super(empty());
  }

  /** Fetches the first page. One request at a time; asks meanwhile coalesce into one more run. */
  readonly refresh = (): Promise<void> => {
    if (this.refreshing) {
      this.refreshAgain = true;
      return this.refreshing;
    }
    const run = async () => {
      do {
        this.refreshAgain = false;
        await this.loadFirstPage();
      } while (this.refreshAgain);
    };
    this.refreshing = run().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  };

  private async loadFirstPage(): Promise<void> {
    const uid = this.deps.userId();
    if (uid === null) return;
    try {
      const page = await this.api.myJobsPage({ limit: JOBS_PAGE_SIZE });
      const list = page.jobs.map((j) => normalizeJob(j));
      if (this.deps.userId() !== uid) return;
      const unseen = unseenFinished(uid, list);
      this.shown(uid, list);
      this.update((s) => ({
        jobs: reconcileJobs(s.jobs, list, Date.now(), page.hasMore),
        hasMore: this.extended ? s.hasMore : page.hasMore,
        newIds: unseen.length ? new Set([...s.newIds, ...unseen]) : s.newIds,
        loaded: true,
        error: null,
      }));
    } catch (e) {
      if (this.deps.userId() !== uid) return;
      if (e instanceof ApiError && e.status === 401) return;
      this.update({ error: e instanceof Error ? e.message : 'unknown error' });
    }
  }

  /** The next page below the oldest loaded job. Older jobs are not "new": they are marked seen. */
  readonly loadMore = async (): Promise<void> => {
    const uid = this.deps.userId();
    const loaded = this.get().jobs;
    if (uid === null || loaded.length === 0) return;
    this.update({ loadingMore: true });
    try {
      const before = Math.min(...loaded.map((j) => j.id));
      const page = await this.api.myJobsPage({ limit: JOBS_PAGE_SIZE, before });
      if (this.deps.userId() !== uid) return;
      const list = page.jobs.map((j) => normalizeJob(j));
      this.shown(uid, list);
      this.extended = true;
      this.update((s) => ({ jobs: mergeJobs(s.jobs, list), hasMore: page.hasMore, error: null }));
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return;
      this.update({ error: e instanceof Error ? e.message : 'unknown error' });
    } finally {
      this.update({ loadingMore: false });
    }
  };

  private shown(uid: number, list: Job[]): void {
    const finished = list.filter(isFinished).map((j) => j.id);
    markSeen(uid, finished);
    for (const id of finished) this.notified.add(id);
  }

  /** A live event: the job moves on in the list (never backwards); a first finish elsewhere is toasted. */
  readonly applyEvent = (kind: JobEventKind, raw: Job): void => {
    const uid = this.deps.userId();
    if (uid === null || !raw || typeof raw.id !== 'number') return;
    const job = normalizeJob({ ...raw, ...EVENT_PATCH[kind] });
    this.update((s) => ({ jobs: mergeJobs(s.jobs, [job]) }));
    const toast = EVENT_TOAST[kind];
    if (!toast || this.notified.has(job.id)) return;
    this.notified.add(job.id);
    markSeen(uid, [job.id]);
    if (this.deps.path() === '/jobs') return;
    this.update((s) => ({ newIds: new Set(s.newIds).add(job.id) }));
    this.deps.notify({ ...toast(job), link: { to: '/jobs', label: 'View' } });
  };

  /**
   * Cancels a queued or running job. The answer (or the `job:cancelled` event, whichever comes
   * first) moves it to cancelled; a job that ended meanwhile gets a note saying how, and the
   * list is fetched again to show it.
   */
  readonly cancel = async (id: number): Promise<void> => {
    const uid = this.deps.userId();
    if (uid === null || this.get().cancelling.has(id)) return;
    const key = this.cancelKeys.get(id) ?? newIdempotencyKey();
    this.cancelKeys.set(id, key);
    // The user asked for it: no toast when its event comes.
    this.notified.add(id);
    this.update((s) => ({ cancelling: new Set(s.cancelling).add(id), cancelErrors: without(s.cancelErrors, id) }));
    try {
      const job = normalizeJob(await this.api.cancelJob(id, key));
      if (this.deps.userId() !== uid) return;
      markSeen(uid, [id]);
      this.update((s) => ({ jobs: mergeJobs(s.jobs, [job]) }));
    } catch (e) {
      if (this.deps.userId() !== uid) return;
      if (e instanceof ApiError && e.status === 401) return;
      const ended = e instanceof ApiError ? e.endedStatus : undefined;
      if (ended) {
        this.cancelKeys.delete(id);
        void this.refresh();
      } else {
        this.notified.delete(id);
      }
      const message = ended ? `It had already ended: ${statusLabel(ended).toLowerCase()}.` : `Not cancelled: ${e instanceof Error ? e.message : 'unknown error'}`;
      this.update((s) => ({ cancelErrors: new Map(s.cancelErrors).set(id, message) }));
    } finally {
      this.update((s) => {
        const cancelling = new Set(s.cancelling);
        cancelling.delete(id);
        return { cancelling };
      });
    }
  };

  /** A job this browser just ordered (the 201 answer), shown before any refresh. */
  readonly add = (raw: Job): Job => {
    const job = normalizeJob(raw);
    this.update((s) => ({ jobs: mergeJobs(s.jobs, [job]), loaded: true }));
    return job;
  };

  /** The user has looked at the list and moved on. */
  readonly clearNew = (): void => {
    if (this.get().newIds.size > 0) this.update({ newIds: new Set() });
  };

  reset(): void {
    this.extended = false;
    this.notified = new Set();
    this.cancelKeys = new Map();
    this.update(empty());
  }
}

function without<K, V>(map: Map<K, V>, key: K): Map<K, V> {
  if (!map.has(key)) return map;
  const copy = new Map(map);
  copy.delete(key);
  return copy;
}
