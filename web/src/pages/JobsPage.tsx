import { JobCard } from '../components/JobCard';
import { Link } from '../components/Link';
import { Page } from '../components/Page';
import { useNow } from '../components/time';
import type { Job } from '../lib/types';

interface Props {
  jobs: Job[];
  loaded: boolean;
  error: string | null;
  newIds: Set<number>;
  onRetry(): void;
}

export function JobsPage({ jobs, loaded, error, newIds, onRetry }: Props) {
  const now = useNow(15000);
  const count = (s: Job['status']) => jobs.filter((j) => j.status === s).length;
  const active = count('queued') + count('running');
  const fresh = jobs.filter((j) => newIds.has(j.id)).length;

  return (
    <Page title="My jobs" actions={<Link className="btn btn-primary" to="/new" data-testid="new-job-link">New job</Link>}>
      {loaded && jobs.length > 0 && (
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
      {loaded && jobs.length === 0 && (
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
    </Page>
  );
}
