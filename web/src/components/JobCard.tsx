import { expression, formatNumber, isCancellable, isFactorsResult, isNumberResult, splitNumbers, statusLabel } from '../lib/jobs';
import type { Job, JobStep } from '../lib/types';
import { METHOD_LABELS, isMethod } from '../lib/validation';
import { duration, fullTime, relativeTime } from './time';

type StepState = 'done' | 'active' | 'waiting' | 'failed' | 'cancelled';

function stepState(job: Job, step: JobStep, index: number): StepState {
  if (step.result !== undefined && step.result !== null) return 'done';
  if (job.status === 'failed') return index === job.stepsDone ? 'failed' : 'waiting';
  if (job.status === 'cancelled') return index === job.stepsDone ? 'cancelled' : 'waiting';
  if (job.status === 'running' && index === job.stepsDone) return 'active';
  return 'waiting';
}

function ResultView({ step }: { step: JobStep }) {
  const r = step.result;
  if (step.method === 'factors' && isFactorsResult(r)) {
    const inputs = splitNumbers(step.numbers);
    return (
      <ul className="factors">
        {r.map((fs, i) => (
          <li key={i}>
            <span className="factor-n">{inputs[i] ?? `#${i + 1}`}</span>
            <span aria-hidden="true"> → </span>
            <span className="visually-hidden"> has prime factors </span>
            <span className="factor-list">{fs.length ? fs.map(formatNumber).join(' · ') : 'none'}</span>
          </li>
        ))}
      </ul>
    );
  }
  return <>{isNumberResult(r) ? formatNumber(r) : JSON.stringify(r)}</>;
}

function StepRow({ job, step, index }: { job: Job; step: JobStep; index: number }) {
  const state = stepState(job, step, index);
  const label = isMethod(step.method) ? METHOD_LABELS[step.method] : step.method;
  return (
    <li className={`job-step step-${state}`} data-testid="job-step" data-step-state={state}>
      <span className="step-marker" aria-hidden="true">
        {state === 'done' ? '✓' : state === 'failed' ? '!' : state === 'cancelled' ? '×' : index + 1}
      </span>
      <div className="step-body">
        <div className="step-head">
          <span className="step-method">{label}</span>
          <span className="visually-hidden">
            {state === 'done'
              ? ' (done)'
              : state === 'active'
                ? ' (computing)'
                : state === 'failed'
                  ? ' (failed)'
                  : state === 'cancelled'
                    ? ' (cancelled)'
                    : ' (waiting)'}
          </span>
        </div>
        <div className="step-expr">
          <span className="expr">{expression(step)}</span>
          {state === 'done' ? (
            <span className="step-result" data-testid="step-result" data-result={JSON.stringify(step.result)}>
              {step.method === 'factors' ? null : <span className="eq"> = </span>}
              <ResultView step={step} />
            </span>
          ) : state === 'active' ? (
            <span className="step-pending">
              <span className="spinner" aria-hidden="true" /> computing…
            </span>
          ) : null}
        </div>
      </div>
    </li>
  );
}

/** Cancelling from the card: shown on queued and running jobs when `onCancel` is given. */
export interface CancelControl {
  onCancel(): void;
  /** The request is on its way. */
  pending: boolean;
  /** Why the last try did not cancel the job. */
  error?: string;
}

export function JobCard({ job, isNew, now, cancel }: { job: Job; isNew: boolean; now: number; cancel?: CancelControl }) {
  const headingId = `job-${job.id}-title`;
  const total = Math.max(job.stepsTotal, 1);
  const pct = Math.round((Math.min(job.stepsDone, total) / total) * 100);
  const took = job.finishedAt ? duration(job.createdAt, job.finishedAt) : '';
  return (
    <article
      className={`job-card status-${job.status}${isNew ? ' is-new' : ''}`}
      id={`job-${job.id}`}
      aria-labelledby={headingId}
      data-testid="job-card"
      data-job-id={job.id}
      data-status={job.status}
    >
      <header className="job-head">
        <h2 id={headingId}>Job #{job.id}</h2>
        {isNew && (
          <span className="badge badge-new" data-testid="job-new">
            New
          </span>
        )}
        <span className={`status-pill pill-${job.status}`} data-testid="job-status">
          {job.status === 'running' && <span className="pulse" aria-hidden="true" />}
          {statusLabel(job.status)}
        </span>
        <span className="job-time">
          <time dateTime={job.createdAt} title={fullTime(job.createdAt)}>
            {relativeTime(job.createdAt, now)}
          </time>
          {took && <span className="took"> · took {took}</span>}
        </span>
      </header>
      <div className="progress-wrap">
        <div
          className="progress"
          role="progressbar"
          aria-label={`Job #${job.id} progress`}
          aria-valuemin={0}
          aria-valuemax={job.stepsTotal}
          aria-valuenow={job.stepsDone}
          aria-valuetext={`${job.stepsDone} of ${job.stepsTotal} steps`}
        >
          <div className="progress-bar" style={{ width: `${pct}%` }} />
        </div>
        <span className="progress-text" data-testid="job-progress-text">
          {job.stepsDone} of {job.stepsTotal} {job.stepsTotal === 1 ? 'step' : 'steps'}
        </span>
      </div>
      <ol className="job-steps">
        {job.details.map((d, i) => (
          <StepRow key={i} job={job} step={d} index={i} />
        ))}
      </ol>
      {job.status === 'failed' && (
        <p className="job-error" data-testid="job-error">
          <strong>Failed:</strong> {job.error || 'the job could not be completed.'}
        </p>
      )}
      {job.status === 'cancelled' && (
        <p className="job-cancelled" data-testid="job-cancelled">
          <strong>Cancelled:</strong> {job.error || 'no further step runs.'}
        </p>
      )}
      {cancel && (isCancellable(job) || cancel.error) && (
        <div className="job-actions">
          {isCancellable(job) && (
            <button
              type="button"
              className="btn btn-secondary btn-small"
              onClick={cancel.onCancel}
              disabled={cancel.pending}
              aria-label={`Cancel job #${job.id}`}
              data-testid="job-cancel"
            >
              {cancel.pending ? 'Cancelling…' : 'Cancel'}
            </button>
          )}
          {cancel.error && (
            <span className="job-cancel-error" role="alert" data-testid="job-cancel-error">
              {cancel.error}
            </span>
          )}
        </div>
      )}
    </article>
  );
}
