import { useMemo, useRef, useState, type FormEvent } from 'react';
import { ApiError, SubmitKey } from '../lib/api';
import type { Job } from '../lib/types';
import { checkNumbers, flattenServerErrors, METHOD_LABELS, METHODS, sentence, U64_MAX, type FieldErrors, type Method } from '../lib/validation';

export interface StepInput {
  method: Method;
  numbers: string;
}

interface StepDraft extends StepInput {
  key: number;
  /** Whether the numbers' client-side error is on display (after blur, submit or method change). */
  showError: boolean;
}

interface StepServerErrors {
  method?: string[];
  numbers?: string[];
  general?: string[];
}

interface Props {
  /** Orders the job; `key` is its Idempotency-Key, the same for a resubmission of the same job. */
  submit(details: { method: string; numbers: string }[], key: string): Promise<Job>;
  onCreated?(job: Job): void;
  initial?: StepInput[];
}

const HINTS: Record<Method, string> = {
  add: 'Comma-separated, e.g. 12,5,7. Decimals and negatives are fine.',
  subtract: 'Comma-separated; the rest are subtracted from the first, e.g. 10,3.',
  multiply: 'Comma-separated, e.g. 2,3,4. Decimals and negatives are fine.',
  divide: 'Comma-separated; the first is divided by the rest, none of which may be 0.',
  factors: `Whole numbers from 0 to ${U64_MAX}, comma-separated.`,
};

/** "details.1.numbers" → [1, "numbers"]; anything else is not about one step's field. */
function stepPath(path: string): [number, string] | null {
  const m = /^details\.(\d+)(?:\.(\w+))?$/.exec(path);
  return m ? [Number(m[1]), m[2] ?? ''] : null;
}

export function JobForm({ submit, onCreated, initial }: Props) {
  const nextKey = useRef(1);
  const makeStep = (s: StepInput = { method: 'add', numbers: '' }): StepDraft => ({ ...s, key: nextKey.current++, showError: false });
  const [steps, setSteps] = useState<StepDraft[]>(() => (initial && initial.length ? initial.map(makeStep) : [makeStep()]));
  const [attempted, setAttempted] = useState(false);
  const [submitting, setSubmitting] = useState(false);
  const [submitKey] = useState(() => new SubmitKey());
  const [serverSteps, setServerSteps] = useState<Record<number, StepServerErrors>>({});
  const [formErrors, setFormErrors] = useState<string[]>([]);
  const formRef = useRef<HTMLFormElement>(null);

  const checks = useMemo(() => steps.map((s) => checkNumbers(s.method, s.numbers)), [steps]);
  const invalid = checks.some((c) => !c.ok);

  const clearServer = (key: number, field: keyof StepServerErrors) =>
    setServerSteps((cur) => (cur[key]?.[field] ? { ...cur, [key]: { ...cur[key], [field]: undefined } } : cur));

  const update = (key: number, patch: Partial<StepDraft>) => setSteps((cur) => cur.map((s) => (s.key === key ? { ...s, ...patch } : s)));

  const addStep = () => {
    const step = makeStep();
    setSteps((cur) => [...cur, step]);
    requestAnimationFrame(() => document.getElementById(`numbers-${step.key}`)?.focus());
  };

  const removeStep = (index: number) => {
    if (steps.length <= 1) return;
    const removed = steps[index];
    const rest = steps.filter((s) => s.key !== removed.key);
    setSteps(rest);
    setServerSteps((cur) => {
      const copy = { ...cur };
      delete copy[removed.key];
      return copy;
    });
    const focusTarget = rest[Math.min(index, rest.length - 1)];
    requestAnimationFrame(() => document.getElementById(`numbers-${focusTarget.key}`)?.focus());
  };

  const applyServerErrors = (errors: FieldErrors, sent: StepDraft[]) => {
    const perStep: Record<number, StepServerErrors> = {};
    const general: string[] = [];
    for (const [path, msgs] of Object.entries(errors)) {
      const texts = msgs.map(sentence);
      const sp = stepPath(path);
      const step = sp ? sent[sp[0]] : undefined;
      if (sp && step) {
        const field: keyof StepServerErrors = sp[1] === 'method' ? 'method' : sp[1] === 'numbers' ? 'numbers' : 'general';
        const entry = (perStep[step.key] ??= {});
        entry[field] = [...(entry[field] ?? []), ...texts];
      } else {
        general.push(...texts.map((t) => (path && path !== 'details' && path !== 'type' ? `${path}: ${t}` : t)));
      }
    }
    setServerSteps(perStep);
    setFormErrors(general);
    const firstKey = sent.find((s) => perStep[s.key])?.key;
    if (firstKey !== undefined) {
      const f = perStep[firstKey];
      requestAnimationFrame(() => document.getElementById(`${f.method && !f.numbers ? 'method' : 'numbers'}-${firstKey}`)?.focus());
    }
  };

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault();
    if (submitting) return;
    setAttempted(true);
    if (invalid) {
      setSteps((cur) => cur.map((s, i) => (checks[i] && !checks[i].ok ? { ...s, showError: true } : s)));
      const firstBad = steps[checks.findIndex((c) => !c.ok)];
      document.getElementById(`numbers-${firstBad.key}`)?.focus();
      return;
    }
    const sent = steps;
    const details = sent.map((s, i) => ({ method: s.method, numbers: checks[i].normalized }));
    setSubmitting(true);
    setFormErrors([]);
    setServerSteps({});
    try {
      const job = await submit(details, submitKey.for(details));
      submitKey.reset();
      onCreated?.(job);
    } catch (err) {
      if (err instanceof ApiError && err.kind === 'http' && err.status === 400) {
        const fe = flattenServerErrors(err.body);
        if (Object.keys(fe).length) applyServerErrors(fe, sent);
        else setFormErrors(['The server rejected this job.']);
      } else if (err instanceof ApiError && err.status === 401) {
        setFormErrors(['Your session has ended. Please sign in again.']);
      } else if (err instanceof ApiError && err.isUnavailable) {
        setFormErrors([
          'The service did not answer, so the job may not be ordered yet. Ordering it again is safe: it will never be ordered twice.',
        ]);
      } else {
        setFormErrors([err instanceof Error ? err.message : 'The job could not be ordered.']);
      }
    } finally {
      setSubmitting(false);
    }
  };

  return (
    <form ref={formRef} className="job-form card" noValidate onSubmit={onSubmit} aria-label="New math job" data-testid="job-form">
      <ol className="step-list">
        {steps.map((s, i) => {
          const check = checks[i];
          const server = serverSteps[s.key] ?? {};
          const clientErr = s.showError && !check.ok ? check.error : undefined;
          const numbersErr = server.numbers?.join(' ') ?? clientErr;
          const methodErr = server.method?.join(' ');
          const numId = `numbers-${s.key}`;
          const methodId = `method-${s.key}`;
          const describedBy = [`${numId}-hint`, numbersErr ? `${numId}-error` : ''].filter(Boolean).join(' ');
          return (
            <li key={s.key} className="step-item" data-testid="step">
              <fieldset>
                <legend>Step {i + 1}</legend>
                <div className="step-fields">
                  <div className={`field field-method${methodErr ? ' has-error' : ''}`}>
                    <label htmlFor={methodId}>Method</label>
                    <select
                      id={methodId}
                      data-testid={`step-method-${i}`}
                      value={s.method}
                      aria-invalid={methodErr ? true : undefined}
                      aria-describedby={methodErr ? `${methodId}-error` : undefined}
                      onChange={(e) => {
                        const m = e.target.value as Method;
                        const ok = checkNumbers(m, s.numbers).ok;
                        update(s.key, { method: m, showError: s.numbers.trim() !== '' && !ok });
                        clearServer(s.key, 'method');
                        clearServer(s.key, 'numbers');
                      }}
                    >
                      {METHODS.map((m) => (
                        <option key={m} value={m}>
                          {METHOD_LABELS[m]}
                        </option>
                      ))}
                    </select>
                    {methodErr && (
                      <p className="error" id={`${methodId}-error`}>
                        {methodErr}
                      </p>
                    )}
                  </div>
                  <div className={`field field-numbers${numbersErr ? ' has-error' : ''}`}>
                    <label htmlFor={numId}>Numbers</label>
                    <input
                      id={numId}
                      data-testid={`step-numbers-${i}`}
                      type="text"
                      autoComplete="off"
                      spellCheck={false}
                      placeholder={s.method === 'factors' ? 'e.g. 12,97' : 'e.g. 12,5,7'}
                      value={s.numbers}
                      aria-invalid={numbersErr ? true : undefined}
                      aria-describedby={describedBy}
                      onChange={(e) => {
                        // An error on display goes as soon as the value is fixed; a new one waits for blur.
                        const ok = checkNumbers(s.method, e.target.value).ok;
                        update(s.key, { numbers: e.target.value, showError: s.showError && !ok });
                        clearServer(s.key, 'numbers');
                      }}
                      onBlur={() => {
                        const show = !check.ok && (s.numbers.trim() !== '' || attempted);
                        if (show !== s.showError) update(s.key, { showError: show });
                      }}
                    />
                    <p className="hint" id={`${numId}-hint`}>
                      {HINTS[s.method]}
                      {check.ok && (
                        <span className="count">
                          {' '}
                          · {check.count} {check.count === 1 ? 'number' : 'numbers'}
                        </span>
                      )}
                    </p>
                    {numbersErr && (
                      <p className="error" id={`${numId}-error`} data-testid={`step-numbers-${i}-error`}>
                        {numbersErr}
                      </p>
                    )}
                  </div>
                  <button
                    type="button"
                    className="btn btn-ghost btn-remove"
                    data-testid={`remove-step-${i}`}
                    aria-label={`Remove step ${i + 1}`}
                    title={steps.length <= 1 ? 'A job needs at least one step' : `Remove step ${i + 1}`}
                    disabled={steps.length <= 1}
                    onClick={() => removeStep(i)}
                  >
                    <svg aria-hidden="true" viewBox="0 0 20 20" width="18" height="18">
                      <path d="M5 5l10 10M15 5L5 15" stroke="currentColor" strokeWidth="2" strokeLinecap="round" />
                    </svg>
                  </button>
                </div>
                {server.general && <p className="error">{server.general.join(' ')}</p>}
              </fieldset>
            </li>
          );
        })}
      </ol>
      <div className="form-row">
        <button type="button" className="btn btn-secondary" onClick={addStep} data-testid="add-step">
          <span aria-hidden="true">+</span> Add step
        </button>
      </div>
      {formErrors.length > 0 && (
        <div className="alert alert-error" role="alert" data-testid="form-error">
          {formErrors.map((m, i) => (
            <p key={i}>{m}</p>
          ))}
        </div>
      )}
      <div className="form-actions">
        <button
          type="submit"
          className="btn btn-primary"
          data-testid="submit-job"
          aria-disabled={invalid || submitting ? true : undefined}
          disabled={submitting}
        >
          {submitting ? 'Ordering…' : `Order job (${steps.length} ${steps.length === 1 ? 'step' : 'steps'})`}
        </button>
        {attempted && invalid && (
          <p className="hint" role="alert">
            Fix the highlighted {checks.filter((c) => !c.ok).length === 1 ? 'field' : 'fields'} to order the job.
          </p>
        )}
      </div>
    </form>
  );
}
