import { useState, type FormEvent } from 'react';
import { Api } from '../lib/api';
import type { DeadLetterFilter } from '../lib/types';
import { DEAD_LETTERS_POLL_MS, useDeadLetters } from '../state/deadLetters';
import { fullTime, relativeTime } from './time';

type Confirming = 'replay' | 'discard' | null;

/** The filter form's fields as typed; parsed into a filter when applied. */
interface Draft {
  queue: string;
  jobId: string;
  reason: string;
}

function parseDraft(d: Draft): DeadLetterFilter | string {
  const filter: DeadLetterFilter = {};
  if (d.queue) filter.queue = d.queue;
  const job = d.jobId.trim();
  if (job) {
    if (!/^\d+$/.test(job) || Number(job) < 1) return 'Job must be a job number.';
    filter.jobId = Number(job);
  }
  if (d.reason.trim()) filter.reason = d.reason.trim();
  return filter;
}

/**
 * The dead letters of mom's work queues (admins): counts per queue, the newest first with
 * reason, attempts and job, and replay or discard of one, a selection, or all matching the
 * filter. Refreshes every few seconds, so the counts follow what the keeper stores.
 */
export function DeadLetters({ api, pollMs = DEAD_LETTERS_POLL_MS }: { api: Api; pollMs?: number }) {
  const { counts, rows, canShowMore, showMore, filter, setFilter, selected, toggle, setSelected, busy, notice, loadError, act } = useDeadLetters(api, pollMs);
  const [draft, setDraft] = useState<Draft>({ queue: '', jobId: '', reason: '' });
  const [draftError, setDraftError] = useState<string | null>(null);
  const [confirming, setConfirming] = useState<Confirming>(null);

  const run = async (...args: Parameters<typeof act>) => {
    await act(...args);
    setConfirming(null);
  };

  const apply = (e: FormEvent) => {
    e.preventDefault();
    const parsed = parseDraft(draft);
    if (typeof parsed === 'string') {
      setDraftError(parsed);
      return;
    }
    setDraftError(null);
    setFilter(parsed);
  };

  const clear = () => {
    setDraft({ queue: '', jobId: '', reason: '' });
    setDraftError(null);
    setFilter({});
  };

  const filtered = Object.keys(filter).length > 0;
  const list = rows ?? [];
  const allSelected = list.length > 0 && list.every((d) => selected.has(d.id));

  return (
    <section className="dead-letters" aria-labelledby="dead-letters-heading" data-testid="dead-letters">
      <h2 id="dead-letters-heading">Dead letters</h2>
      <p className="lead">
        Messages a queue gave up on, kept with their reason. Replay puts one back on its queue with a fresh attempt count (its job moves on); discard deletes it.
      </p>
      <div className="tiles" aria-label="Dead letters per queue">
        <div className={`tile${(counts?.total ?? 0) > 0 ? ' tile-bad' : ''}`}>
          <span className="tile-label">All queues</span>
          <span className="tile-value" data-testid="dead-letters-total">
            {counts ? counts.total.toLocaleString() : '—'}
          </span>
        </div>
        {counts?.queues.map((q) => (
          <div className="tile" key={q.queue}>
            <span className="tile-label">
              <code>{q.queue}</code>
            </span>
            <span className="tile-value" data-testid="dead-letters-count" data-queue={q.queue}>
              {q.count.toLocaleString()}
            </span>
          </div>
        ))}
      </div>

      <form className="card dl-filter" onSubmit={apply} aria-label="Filter dead letters">
        <div className="field">
          <label htmlFor="dl-queue">Queue</label>
          <select id="dl-queue" value={draft.queue} onChange={(e) => setDraft({ ...draft, queue: e.target.value })}>
            <option value="">All queues</option>
            {counts?.queues.map((q) => (
              <option key={q.queue} value={q.queue}>
                {q.queue}
              </option>
            ))}
          </select>
        </div>
        <div className={`field${draftError ? ' has-error' : ''}`}>
          <label htmlFor="dl-job">Job</label>
          <input id="dl-job" inputMode="numeric" value={draft.jobId} onChange={(e) => setDraft({ ...draft, jobId: e.target.value })} aria-invalid={draftError ? true : undefined} />
        </div>
        <div className="field">
          <label htmlFor="dl-reason">Reason contains</label>
          <input id="dl-reason" value={draft.reason} maxLength={200} onChange={(e) => setDraft({ ...draft, reason: e.target.value })} />
        </div>
        <div className="dl-filter-actions">
          <button type="submit" className="btn btn-secondary btn-small">
            Filter
          </button>
          {filtered && (
            <button type="button" className="btn btn-ghost btn-small" onClick={clear}>
              Clear
            </button>
          )}
        </div>
        {draftError && (
          <p className="error" role="alert">
            {draftError}
          </p>
        )}
      </form>

      <div className="dl-actions" role="group" aria-label="Act on dead letters">
        <button type="button" className="btn btn-primary btn-small" disabled={busy || selected.size === 0} onClick={() => run('replay', { ids: [...selected] })} data-testid="replay-selected">
          Replay selected ({selected.size})
        </button>
        <button type="button" className="btn btn-secondary btn-small" disabled={busy || selected.size === 0} onClick={() => run('discard', { ids: [...selected] })} data-testid="discard-selected">
          Discard selected ({selected.size})
        </button>
        {confirming === null ? (
          <>
            <button type="button" className="btn btn-secondary btn-small" disabled={busy || list.length === 0} onClick={() => setConfirming('replay')} data-testid="replay-all">
              Replay all {filtered ? 'matching' : ''}
            </button>
            <button type="button" className="btn btn-secondary btn-small" disabled={busy || list.length === 0} onClick={() => setConfirming('discard')} data-testid="discard-all">
              Discard all {filtered ? 'matching' : ''}
            </button>
          </>
        ) : (
          <span className="dl-confirm" role="alert">
            {confirming === 'replay' ? 'Replay' : 'Discard'} every dead letter {filtered ? 'matching the filter' : 'of every queue'}?{' '}
            <button type="button" className="btn btn-primary btn-small" disabled={busy} onClick={() => run(confirming, { filter })} data-testid="confirm-all">
              Yes, {confirming} all
            </button>
            <button type="button" className="btn btn-ghost btn-small" onClick={() => setConfirming(null)}>
              Cancel
            </button>
          </span>
        )}
      </div>

      {notice && (
        <div className={`alert ${notice.ok ? 'alert-success' : 'alert-error'}`} role={notice.ok ? 'status' : 'alert'} data-testid="dead-letters-notice">
          {notice.text}
        </div>
      )}
      {loadError && (
        <div className="alert alert-error" role="alert" data-testid="dead-letters-error">
          {loadError}
        </div>
      )}

      {rows === null && !loadError && (
        <div className="empty" aria-busy="true">
          <span className="spinner" aria-hidden="true" /> Loading dead letters…
        </div>
      )}
      {rows !== null && (
        <div className="card table-card">
          <table className="queues dl-table" data-testid="dead-letters-table">
            <caption className="visually-hidden">Dead letters, newest first</caption>
            <thead>
              <tr>
                <th scope="col">
                  <input
                    type="checkbox"
                    aria-label="Select every dead letter shown"
                    checked={allSelected}
                    disabled={list.length === 0}
                    onChange={() => setSelected(allSelected ? new Set() : new Set(list.map((d) => d.id)))}
                  />
                </th>
                <th scope="col">Dead letter</th>
                <th scope="col">Reason</th>
                <th scope="col" className="num">Attempts</th>
                <th scope="col">Failed</th>
                <th scope="col">Job</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {list.length === 0 && (
                <tr>
                  <td colSpan={7} className="empty-row" data-testid="dead-letters-empty">
                    {filtered ? 'No dead letter matches the filter.' : 'No dead letters. Every message was handled.'}
                  </td>
                </tr>
              )}
              {list.map((d) => (
                <tr key={d.id} data-testid="dead-letter" data-id={d.id} data-job-id={d.jobId ?? ''}>
                  <td>
                    <input type="checkbox" aria-label={`Select dead letter ${d.id}`} checked={selected.has(d.id)} onChange={() => toggle(d.id)} />
                  </td>
                  <th scope="row" className="qname">
                    <span>#{d.id}</span> <code>{d.kind}</code>
                    <span className="qtotal">
                      from <code>{d.queue}</code>
                    </span>
                  </th>
                  <td data-label="Reason" className="dl-reason">
                    <span data-testid="dead-letter-reason">{d.reason}</span>
                    {d.notReplayable && <span className="hint dl-unreplayable">Cannot be replayed: {d.notReplayable}</span>}
                    {d.payload !== null && (
                      <details>
                        <summary>Payload</summary>
                        <pre className="dl-payload">{JSON.stringify(d.payload, null, 2)}</pre>
                      </details>
                    )}
                  </td>
                  <td className="num" data-label="Attempts">
                    {d.attempts}
                  </td>
                  <td data-label="Failed">
                    <span title={`first ${fullTime(d.firstFailedAt)}`}>first {relativeTime(d.firstFailedAt)}</span>
                    <br />
                    <span title={`last ${fullTime(d.lastFailedAt)}`}>last {relativeTime(d.lastFailedAt)}</span>
                  </td>
                  <td data-label="Job">{d.jobId !== null ? `#${d.jobId}` : '—'}</td>
                  <td data-label="Actions" className="dl-row-actions">
                    <button
                      type="button"
                      className="btn btn-primary btn-small"
                      disabled={busy || d.notReplayable !== null}
                      title={d.notReplayable ?? 'Put it back on its queue'}
                      onClick={() => run('replay', { ids: [d.id] })}
                      data-testid="replay-one"
                    >
                      Replay
                    </button>
                    <button type="button" className="btn btn-ghost btn-small" disabled={busy} onClick={() => run('discard', { ids: [d.id] })} data-testid="discard-one">
                      Discard
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {canShowMore && (
            <div className="load-more">
              <button type="button" className="btn btn-secondary btn-small" onClick={showMore}>
                Show older
              </button>
            </div>
          )}
        </div>
      )}
    </section>
  );
}
