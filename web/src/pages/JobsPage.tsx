import { useState } from 'react';
import { JobCard } from '../components/JobCard';
import { Link } from '../components/Link';
import { Page } from '../components/Page';
import { useNow } from '../components/time';
import { statusLabel } from '../lib/jobs';
import type { Job, JobStatus } from '../lib/types';
import { useJobsOfStatus } from '../state/jobFilter';
import { usePanel } from '../state/PanelState';
import { useStore } from '../state/store';

const STATUSES: JobStatus[] = ['queued', 'running', 'done', 'failed', 'cancelled'];

export function JobsPage() {
  const { api, jobs: store } = usePanel();
  const all = useStore(store);
  const [status, setStatus] = useState<JobStatus | null>(null);
  const filtered = useJobsOfStatus(api, status, all.jobs);
  const { newIds, cancelling, cancelErrors } = all;
  const jobs = filtered ? filtered.jobs : all.jobs;
  const loaded = filtered ? filtered.loaded : all.loaded;
  const error = filtered ? filtered.error : all.error;
  const hasMore = filtered ? filtered.hasMore : all.hasMore;
  const loadingMore = filtered ? filtered.loading && filtered.loaded : all.loadingMore;
  const loadMore = filtered ? filtered.loadMore : () => void store.loadMore();
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
          {count('cancelled') > 0 && (
            <li>
              <span className="summary-n">{count('cancelled')}</span> cancelled
            </li>
          )}
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
          <button type="button" className="btn btn-secondary btn-small" onClick={() => void store.refresh()}>
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
          <JobCard
            key={j.id}
            job={j}
            isNew={newIds.has(j.id)}
            now={now}
            cancel={{ onCancel: () => void store.cancel(j.id), pending: cancelling.has(j.id), error: cancelErrors.get(j.id) }}
          />
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
