import { DeadLetters } from '../components/DeadLetters';
import { ConsumerTable, HistoryCharts, QueueWarnings } from '../components/Charts';
import { Page } from '../components/Page';
import type { QueueInfo } from '../lib/types';
import { usePanel } from '../state/PanelState';
import { QUEUE_HISTORY, useHistory, useQueues } from '../state/system';

function fmtInt(n: number | null | undefined): string {
  return typeof n === 'number' && Number.isFinite(n) ? n.toLocaleString() : '—';
}

function fmtRate(n: number | null | undefined): string {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '—';
  return n >= 100 ? Math.round(n).toLocaleString() : n.toFixed(1);
}

function sum(qs: QueueInfo[], f: (q: QueueInfo) => number | null | undefined): number | null {
  let total = 0;
  let any = false;
  for (const q of qs) {
    const v = f(q);
    if (typeof v === 'number' && Number.isFinite(v)) {
      total += v;
      any = true;
    }
  }
  return any ? total : null;
}

function Sparkline({ values, label }: { values: number[]; label: string }) {
  if (values.length < 2) return <span className="spark-empty" aria-hidden="true" />;
  const w = 96;
  const h = 24;
  const max = Math.max(1, ...values);
  const step = w / (QUEUE_HISTORY - 1);
  const offset = (QUEUE_HISTORY - values.length) * step;
  const pts = values.map((v, i) => `${(offset + i * step).toFixed(1)},${(h - 2 - (v / max) * (h - 4)).toFixed(1)}`).join(' ');
  return (
    <svg className="spark" viewBox={`0 0 ${w} ${h}`} width={w} height={h} role="img" aria-label={label}>
      <line x1="0" x2={w} y1={h - 1.5} y2={h - 1.5} className="spark-base" />
      <polyline points={pts} fill="none" stroke="currentColor" strokeWidth="1.5" strokeLinejoin="round" />
    </svg>
  );
}

export function SystemPage() {
  const { api } = usePanel();
  const { report, error, updatedAt, history } = useQueues(api);
  const { history: jobs, error: historyError } = useHistory(api);
  const queues = report?.queues ?? [];
  const source =
    report?.source === 'management'
      ? 'figures and rates from the RabbitMQ management API'
      : report?.source === 'counters'
        ? "depths sampled every 5 s; rates from mom's own counters in the API's process"
        : 'depths from queue declarations';

  return (
    <Page title="System" heading="System">
      <p className="lead">
        Every piece of work in mom is a message on RabbitMQ. These are its queues, refreshed every two seconds.
      </p>
      <div className="tiles" aria-label="Totals">
        <div className="tile">
          <span className="tile-label">Messages queued</span>
          <span className="tile-value" data-testid="total-messages">{fmtInt(sum(queues, (q) => q.messages))}</span>
        </div>
        <div className="tile">
          <span className="tile-label">Consumers</span>
          <span className="tile-value">{fmtInt(sum(queues, (q) => q.consumers))}</span>
        </div>
        <div className="tile">
          <span className="tile-label">Published / s</span>
          <span className="tile-value">{fmtRate(sum(queues, (q) => q.publishRate))}</span>
        </div>
        <div className={`tile${(sum(queues, (q) => q.deadLetters) ?? 0) > 0 ? ' tile-bad' : ''}`}>
          <span className="tile-label">Dead-lettered</span>
          <span className="tile-value">{fmtInt(sum(queues, (q) => q.deadLetters))}</span>
        </div>
      </div>
      <QueueWarnings queues={queues} />
      {error && (
        <div className="alert alert-error" role="alert" data-testid="system-error">
          {error}
          {report && ' Showing the last figures received.'}
        </div>
      )}
      {!report && !error && (
        <div className="empty" aria-busy="true">
          <span className="spinner" aria-hidden="true" /> Loading queues…
        </div>
      )}
      {report && (
        <div className="card table-card">
          <div className="table-meta">
            <span>
              {queues.length} {queues.length === 1 ? 'queue' : 'queues'}
              {' · '}
              {source}
            </span>
            {updatedAt && <span className="updated">Updated {updatedAt.toLocaleTimeString()}</span>}
          </div>
          <table className="queues" data-testid="queues-table">
            <caption className="visually-hidden">RabbitMQ queues</caption>
            <thead>
              <tr>
                <th scope="col">Queue</th>
                <th scope="col" className="num">Ready</th>
                <th scope="col" className="num">Unacked</th>
                <th scope="col" className="num">Consumers</th>
                <th scope="col" className="num">Publish/s</th>
                <th scope="col" className="num">Deliver/s</th>
                <th scope="col" className="num">Dead-lettered</th>
                <th scope="col">Depth, 1 min</th>
              </tr>
            </thead>
            <tbody>
              {queues.length === 0 && (
                <tr>
                  <td colSpan={8} className="empty-row">No queues reported.</td>
                </tr>
              )}
              {queues.map((q) => (
                <tr key={q.name} data-testid="queue-row" data-queue={q.name}>
                  <th scope="row" className="qname">
                    <code>{q.name}</code>
                    <span className="qtotal">{fmtInt(q.messages)} msgs</span>
                  </th>
                  <td className={`num${(q.messagesReady ?? 0) > 0 ? ' warn' : ''}`} data-label="Ready">
                    {fmtInt(q.messagesReady)}
                  </td>
                  <td className="num" data-label="Unacked">{fmtInt(q.messagesUnacked)}</td>
                  <td className={`num${q.consumers === 0 && (q.messagesReady ?? 0) > 0 ? ' warn' : ''}`} data-label="Consumers">
                    {fmtInt(q.consumers)}
                  </td>
                  <td className="num" data-label="Publish/s">{fmtRate(q.publishRate)}</td>
                  <td className="num" data-label="Deliver/s">{fmtRate(q.deliverRate)}</td>
                  <td className={`num${(q.deadLetters ?? 0) > 0 ? ' bad' : ''}`} data-label="Dead-lettered">
                    {fmtInt(q.deadLetters)}
                  </td>
                  <td className="spark-cell" data-label="Depth">
                    <Sparkline values={history.get(q.name) ?? []} label={`Depth of ${q.name} over the last minute`} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <ConsumerTable consumers={report.consumers ?? []} />
        </div>
      )}
      <section className="card history-card" aria-label="Job history" data-testid="history">
        {historyError && (
          <div className="alert alert-error" role="alert">
            {historyError}
          </div>
        )}
        {jobs ? <HistoryCharts minutes={jobs.minutes} /> : !historyError && <p className="empty">Loading the last hour…</p>}
      </section>
      <DeadLetters api={api} />
    </Page>
  );
}
