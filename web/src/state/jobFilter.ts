import { useEffect, useState } from 'react';
import type { Api } from '../lib/api';
import { mergeJobs, newerJob, normalizeJob } from '../lib/jobs';
import type { Job, JobStatus } from '../lib/types';

/** Jobs per request of a filtered list. */
const FILTERED_PAGE_SIZE = 50;

/** The pages of one status fetched so far. */
export interface StatusPages {
  status: JobStatus;
  jobs: Job[];
  hasMore: boolean;
}

/**
 * The filtered list as shown: a fetched job moves on with its live copy (and leaves when it no
 * longer has the status); a job newer than the fetch joins when it matches.
 */
export function jobsOfStatus(fetched: StatusPages, live: Job[]): Job[] {
  const byId = new Map(live.map((j) => [j.id, j]));
  const newest = Math.max(0, ...fetched.jobs.map((j) => j.id));
  const updated = fetched.jobs.map((j) => newerJob(j, byId.get(j.id) ?? j));
  const arrived = live.filter((j) => j.id > newest);
  return mergeJobs(updated, arrived).filter((j) => j.status === fetched.status);
}

/**
 * The jobs of one status, paged from the server (`?status=`), so a rare status is found without
 * loading every job; live changes of the full list (`live`) are folded in. Null without a status.
 */
export function useJobsOfStatus(api: Api, status: JobStatus | null, live: Job[]) {
  const [fetched, setFetched] = useState<StatusPages | null>(null);
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
  const oldest = current?.jobs.length ? Math.min(...current.jobs.map((j) => j.id)) : undefined;
  return {
    jobs: current ? jobsOfStatus(current, live) : [],
    loaded: current !== null,
    error,
    hasMore: current?.hasMore ?? false,
    loading,
    loadMore: () => void load(status, oldest),
  };
}
