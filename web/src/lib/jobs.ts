import type { ExactInteger, Job, JobStatus, JobStep, StepResult } from './types';

const STATUS_RANK: Record<JobStatus, number> = { queued: 0, running: 1, done: 2, failed: 2, cancelled: 2 };

export function isFinished(job: Pick<Job, 'status'>): boolean {
  return job.status === 'done' || job.status === 'failed' || job.status === 'cancelled';
}

/** Whether `POST /job/{id}/cancel` can still stop the job. */
export function isCancellable(job: Pick<Job, 'status'>): boolean {
  return job.status === 'queued' || job.status === 'running';
}

/**
 * Fills the fields a job may lack (older backends, `job:done` carrying `results` beside the
 * details) so the views can rely on `status`, `stepsDone` and `stepsTotal`.
 */
export function normalizeJob(raw: Partial<Job> & { id: number }): Job {
  const details: JobStep[] = Array.isArray(raw.details) ? raw.details.map((d) => ({ ...d })) : [];
  if (Array.isArray(raw.results)) {
    raw.results.forEach((r, i) => {
      if (details[i] && details[i].result === undefined && r !== undefined && r !== null) details[i].result = r;
    });
  }
  const withResult = details.filter((d) => d.result !== undefined && d.result !== null).length;
  const error = raw.error ?? null;
  let status: JobStatus | undefined = raw.status;
  if (!status) status = raw.done ? 'done' : error ? 'failed' : withResult > 0 ? 'running' : 'queued';
  const stepsTotal = typeof raw.stepsTotal === 'number' ? raw.stepsTotal : details.length;
  const stepsDone = typeof raw.stepsDone === 'number' ? raw.stepsDone : status === 'done' ? stepsTotal : withResult;
  return {
    type: 'math',
    createdAt: '',
    updatedAt: '',
    finishedAt: null,
    ...raw,
    done: raw.done ?? status === 'done',
    status,
    details,
    stepsDone,
    stepsTotal,
    error,
  } as Job;
}

/**
 * Chooses between two views of the same job: events may arrive out of order. The server counts
 * every change in `version`, so the higher version wins; without versions, the one further
 * along. (A failed job can run again when an admin replays its dead letter: its higher version
 * beats the older `failed`.)
 */
export function newerJob(current: Job | undefined, incoming: Job): Job {
  if (!current) return incoming;
  if (typeof current.version === 'number' && typeof incoming.version === 'number' && current.version !== incoming.version) {
    return incoming.version > current.version ? incoming : current;
  }
  const a = STATUS_RANK[current.status] ?? 0;
  const b = STATUS_RANK[incoming.status] ?? 0;
  if (b !== a) return b > a ? incoming : current;
  if (incoming.stepsDone !== current.stepsDone) return incoming.stepsDone > current.stepsDone ? incoming : current;
  return incoming;
}

export function sortJobs(jobs: Job[]): Job[] {
  return [...jobs].sort((x, y) => {
    const t = (Date.parse(y.createdAt) || 0) - (Date.parse(x.createdAt) || 0);
    return t !== 0 ? t : y.id - x.id;
  });
}

export function mergeJobs(current: Job[], incoming: Job[]): Job[] {
  const map = new Map<number, Job>(current.map((j) => [j.id, j]));
  for (const j of incoming) map.set(j.id, newerJob(map.get(j.id), j));
  return sortJobs([...map.values()]);
}

const RECENT_MS = 30000;

/**
 * Replaces the list with the server's, keeping any live event that is further along than it, and
 * jobs created moments ago that a list fetched before their creation could not contain yet.
 */
export function reconcileJobs(current: Job[], fromServer: Job[], now = Date.now(), keepOlder = false): Job[] {
  const live = new Map<number, Job>(current.map((j) => [j.id, j]));
  const ids = new Set(fromServer.map((j) => j.id));
  const recent = current.filter((j) => !ids.has(j.id) && now - (Date.parse(j.createdAt) || 0) < RECENT_MS);
  // The server sent its first page only: pages loaded further down stay.
  const oldest = Math.min(...fromServer.map((j) => j.id));
  const older = keepOlder ? current.filter((j) => j.id < oldest && !recent.includes(j)) : [];
  return sortJobs([...fromServer.map((j) => newerJob(j, live.get(j.id) ?? j)), ...recent, ...older]);
}

// ---- "new" marks: finished jobs this browser has not shown to the user yet ----

const SEEN_PREFIX = 'mom.seenJobs.';
const SEEN_LIMIT = 1000;

function seenKey(userId: number): string {
  return `${SEEN_PREFIX}${userId}`;
}

export function loadSeen(userId: number, storage: Storage = localStorage): Set<number> {
  try {
    const raw = storage.getItem(seenKey(userId));
    const arr = raw ? (JSON.parse(raw) as unknown) : [];
    return new Set(Array.isArray(arr) ? arr.filter((x): x is number => typeof x === 'number') : []);
  } catch {
    return new Set();
  }
}

export function markSeen(userId: number, ids: Iterable<number>, storage: Storage = localStorage): void {
  const seen = loadSeen(userId, storage);
  let changed = false;
  for (const id of ids) {
    if (!seen.has(id)) {
      seen.add(id);
      changed = true;
    }
  }
  if (!changed) return;
  const list = [...seen].slice(-SEEN_LIMIT);
  try {
    storage.setItem(seenKey(userId), JSON.stringify(list));
  } catch {
    /* storage full or disabled: the marks are a convenience */
  }
}

/** Finished jobs not yet shown in this browser. */
export function unseenFinished(userId: number, jobs: Job[], storage: Storage = localStorage): number[] {
  const seen = loadSeen(userId, storage);
  return jobs.filter((j) => isFinished(j) && !seen.has(j.id)).map((j) => j.id);
}

// ---- display ----

const OPERATORS: Record<string, string> = { add: '+', subtract: '−', multiply: '×', divide: '÷' };

const INTEGER_DIGITS = /^-?\d+$/;

/** A result the API sent as a number or, past 2^53 − 1, as a string of digits. */
export function isNumberResult(r: unknown): r is ExactInteger {
  return typeof r === 'number' || (typeof r === 'string' && INTEGER_DIGITS.test(r));
}

/** Digits of an exact integer are shown as they came: never through a float, which would round them. */
export function formatNumber(n: unknown): string {
  if (typeof n === 'number') {
    if (Number.isInteger(n) && Math.abs(n) < 1e21) return String(n);
    return String(Number(n.toPrecision(15)));
  }
  return String(n);
}

export function splitNumbers(numbers: string): string[] {
  return String(numbers ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** "1 + 2 + 3" for arithmetic steps; the plain list for factors. */
export function expression(step: JobStep): string {
  const nums = splitNumbers(step.numbers);
  const op = OPERATORS[step.method];
  return op ? nums.join(` ${op} `) : nums.join(', ');
}

export function isFactorsResult(r: StepResult): r is ExactInteger[][] {
  return Array.isArray(r) && r.every((x) => Array.isArray(x) && x.every(isNumberResult));
}

export function statusLabel(status: Job['status']): string {
  switch (status) {
    case 'queued':
      return 'Queued';
    case 'running':
      return 'Running';
    case 'done':
      return 'Done';
    case 'failed':
      return 'Failed';
    case 'cancelled':
      return 'Cancelled';
    default:
      return String(status);
  }
}
