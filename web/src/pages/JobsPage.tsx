import { useEffect, useState } from 'react';
import { JobCard } from '../components/JobCard';
import { Link } from '../components/Link';
import { Page } from '../components/Page';
import { useNow } from '../components/time';
import type { Api } from '../lib/api';
import { mergeJobs, newerJob, normalizeJob, statusLabel } from '../lib/jobs';
import type { Job, JobStatus } from '../lib/types';

/** Jobs per request of a filtered list. */
const FILTERED_PAGE_SIZE = 50;
const STATUSES: JobStatus[] = ['queued', 'running', 'done', 'failed'];

interface Props {
  api: Api;
  /** Every loaded job, kept live by the app. */
  jobs: Job[];
  loaded: boolean;
  error: string | null;
  newIds: Set<number>;
  onRetry(): void;
  hasMore: boolean;
  loadingMore: boolean;
  onLoadMore(): void;
}

/**
 * The jobs of one status, paged from the server (`?status=`), so a rare status is found without
 * loading every job; live changes of the app's list are folded in.
 */
function useJobsOfStatus(api: Api, status: JobStatus | null, live: Job[]) {
  const [fetched, setFetched] = useState<{ status: JobStatus; jobs: Job[]; hasMore: boolean } | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const load = async (which: JobStatus, before: number | undefined, signal?: AbortSignal) => {
    setLoading(true);
    try {
      const page = await api.myJobsPage({ status: which, limit: FILTERED_PAGE_SIZE, before }, signal);
      const jobs = page.jobs.map((j) => normalizeJob(j));
      setFetched((cur) => ({
        status: which,
        jobs: before !== undefined && cur?.status === which ? mergeJobs(cur.jobs, jobs) : jobs,
        hasMore: page.hasMore,
      }));
      setError(null);
    } catch (e) {
      if (signal?.aborted) return;
      setError(e instanceof Error ? e.message : 'unknown error');
    } finally {
      if (!signal?.aborted) setLoading(false);
    }
  };

  useEffect(() => {
    if (!status) return;
    const ctrl = new AbortController();
    setFetched(null);
    void load(status, undefined, ctrl.signal);
    return () => ctrl.abort();
  }, [api, status]);

  if (!status) return null;
  const current = fetched?.status === status ? fetched : null;
  const byId = new Map(live.map((j) => [j.id, j]));
  const newest = Math.max(0, ...(current?.jobs ?? []).map((j) => j.id));
  // A fetched job moves on with its live copy; a job newer than the fetch joins when it matches.
  const updated = (current?.jobs ?? []).map((j) => newerJob(j, byId.get(j.id) ?? j));
  const arrived = live.filter((j) => j.id > newest && current !== null);
  const jobs = mergeJobs(updated, arrived).filter((j) => j.status === status);
  const oldest = current?.jobs.length ? Math.min(...current.jobs.map((j) => j.id)) : undefined;
  return {
    jobs,
    loaded: current !== null,
    error,
    hasMore: current?.hasMore ?? false,
    loading,
    loadMore: () => void load(status, oldest),
  };
}

export function JobsPage({ api, jobs: allJobs, loaded: allLoaded, error: allError, newIds, onRetry, hasMore: allHasMore, loadingMore: allLoading, onLoadMore }: Props) {
  const [status, setStatus] = useState<JobStatus | null>(null);
  const filtered = useJobsOfStatus(api, status, allJobs);
  const jobs = filtered ? filtered.jobs : allJobs;
  const loaded = filtered ? filtered.loaded : allLoaded;
  const error = filtered ? filtered.error : allError;
  const hasMore = filtered ? filtered.hasMore : allHasMore;
  const loadingMore = filtered ? filtered.loading && filtered.loaded : allLoading;
  const loadMore = filtered ? filtered.loadMore : onLoadMore;
  const now = useNow(15000);
  const count = (s: Job['status']) => jobs.filter((j) => j.status === s).length;
  const active = count('queued') + count('running');
  const fresh = jobs.filter((j) => newIds.has(j.id)).length;

  return (
    <Page title="My jobs" actions={<Link className="btn btn-primary" to="/new" data-testid="new-job-link">New job</Link>}>
      <div className="job-filter">
        <label htmlFor="job-status-filter">Show</label>
        <select id="job-status-filter" data-testid="job-status-filter" value={status ?? ''} onChange={(e) => setStatus((e.target.value || null) as JobStatus | null)}>
          <option value="">all jobs</option>
          {STATUSES.map((s) => (
            <option key={s} value={s}>
              {statusLabel(s).toLowerCase()} only
            </option>
          ))}
        </select>
      </div>
      {!status && loaded && jobs.length > 0 && (
        <ul className="summary" aria-label="Summary">
          <li>
            <span className="summary-n">{jobs.length}</span> total
          </li>
          <li>
            <span className="summary-n">{active}</span> in progress
          </li>
          <li>
            <span className="summary-n">{count('done')}</span> done
          </li>
          <li className={count('failed') ? 'summary-bad' : ''}>
            <span className="summary-n">{count('failed')}</span> failed
          </li>
          {fresh > 0 && (
            <li className="summary-new" data-testid="new-summary">
              <span className="summary-n">{fresh}</span> new since you were away
            </li>
          )}
        </ul>
      )}
      {error && (
        <div className="alert alert-error" role="alert">
          <p>Could not load your jobs: {error}</p>
          <button type="button" className="btn btn-secondary btn-small" onClick={onRetry}>
            Try again
          </button>
        </div>
      )}
      {!loaded && !error && (
        <div className="empty" aria-busy="true">
          <span className="spinner" aria-hidden="true" /> Loading your jobs…
        </div>
      )}
      {status && loaded && jobs.length === 0 && (
        <div className="empty card" data-testid="jobs-empty-filtered">
          <p>No {statusLabel(status).toLowerCase()} jobs.</p>
        </div>
      )}
      {!status && loaded && jobs.length === 0 && (
        <div className="empty card" data-testid="jobs-empty">
          <h2>No jobs yet</h2>
          <p>Order a job with a few math steps and watch each step finish live.</p>
          <Link className="btn btn-primary" to="/new">
            Order your first job
          </Link>
        </div>
      )}
      <div className="job-list" data-testid="job-list">
        {jobs.map((j) => (
          <JobCard key={j.id} job={j} isNew={newIds.has(j.id)} now={now} />
        ))}
      </div>
      {loaded && hasMore && (
        <div className="load-more">
          <button type="button" className="btn btn-secondary" onClick={loadMore} disabled={loadingMore} data-testid="load-more">
            {loadingMore ? 'Loading…' : 'Load older jobs'}
          </button>
        </div>
      )}
    </Page>
  );
}
