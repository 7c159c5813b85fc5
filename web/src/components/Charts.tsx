import type { ConsumerHealth, HistoryMinute, QueueInfo } from '../lib/types';

/** One line of a chart; `null` is a gap (nothing measured in that minute). */
export interface Series {
  name: string;
  values: (number | null)[];
}

const W = 480;
const H = 160;
const PAD = { left: 44, right: 8, top: 8, bottom: 22 };

/** The smallest of 1, 2, 5 × 10^k at or above `n`, so the axis reads round numbers. */
export function niceMax(n: number): number {
  if (!(n > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(n));
  for (const step of [1, 2, 5, 10]) if (step * power >= n) return step * power;
  return 10 * power;
}

const isValue = (v: number | null | undefined): v is number => typeof v === 'number' && Number.isFinite(v);

/** Where the `i`-th of `count` values lands in the plot. */
function point(i: number, count: number, v: number, max: number): [number, number] {
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const step = count > 1 ? plotW / (count - 1) : 0;
  return [PAD.left + i * step, PAD.top + plotH - (Math.min(v, max) / max) * plotH];
}

/** SVG path data of `values` scaled into the plot; each run of numbers is one `M…L…` segment. */
export function pathOf(values: (number | null)[], max: number): string {
  let d = '';
  let pen = false;
  values.forEach((v, i) => {
    if (!isValue(v)) {
      pen = false;
      return;
    }
    const [x, y] = point(i, values.length, v, max);
    d += `${pen ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)}`;
    pen = true;
  });
  return d;
}

/** Values with no neighbour to draw a line to: a line of one point is invisible, so a dot. */
export function isolated(values: (number | null)[]): number[] {
  return values.flatMap((v, i) => (isValue(v) && !isValue(values[i - 1]) && !isValue(values[i + 1]) ? [i] : []));
}

/** A line chart in plain SVG: one path per series, a round y-axis, the first and last x labels. */
export function LineChart({ title, series, labels, format, testId }: { title: string; series: Series[]; labels: string[]; format: (n: number) => string; testId: string }) {
  const max = niceMax(Math.max(0, ...series.flatMap((s) => s.values.filter(isValue))));
  const plotH = H - PAD.top - PAD.bottom;
  const ticks = [0, max / 2, max];
  return (
    <figure className="chart" data-testid={testId}>
      <figcaption className="chart-title">{title}</figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={title} preserveAspectRatio="none">
        {ticks.map((t) => {
          const y = PAD.top + plotH - (t / max) * plotH;
          return (
            <g key={t} className="chart-grid">
              <line x1={PAD.left} x2={W - PAD.right} y1={y} y2={y} />
              <text x={PAD.left - 6} y={y + 4} textAnchor="end">
                {format(t)}
              </text>
            </g>
          );
        })}
        {labels.length > 0 && (
          <g className="chart-axis">
            <text x={PAD.left} y={H - 6} textAnchor="start">
              {labels[0]}
            </text>
            <text x={W - PAD.right} y={H - 6} textAnchor="end">
              {labels[labels.length - 1]}
            </text>
          </g>
        )}
        {series.map((s, i) => (
          <g key={s.name} className={`chart-line chart-line-${i}`} data-series={s.name}>
            <path d={pathOf(s.values, max)} data-series={s.name} fill="none" />
            {isolated(s.values).map((at) => {
              const [x, y] = point(at, s.values.length, s.values[at] as number, max);
              return <circle key={at} cx={x} cy={y} r={3} className="chart-dot" />;
            })}
          </g>
        ))}
      </svg>
      <ul className="chart-legend">
        {series.map((s, i) => (
          <li key={s.name}>
            <span className={`chart-swatch chart-line-${i}`} aria-hidden="true" /> {s.name}
          </li>
        ))}
      </ul>
    </figure>
  );
}

/** Final statuses seen in the history, `done` and `failed` first, any other (a new one) after. */
export function finalStatuses(minutes: HistoryMinute[]): string[] {
  const seen = new Set<string>(['done', 'failed']);
  for (const m of minutes) for (const status of Object.keys(m.finished ?? {})) seen.add(status);
  return [...seen];
}

function minuteLabel(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function fmtCount(n: number): string {
  return Number.isInteger(n) ? n.toLocaleString() : n.toFixed(1);
}

export function fmtSeconds(n: number): string {
  if (n === 0) return '0';
  return n < 1 ? `${Math.round(n * 1000)} ms` : `${n >= 10 ? Math.round(n) : n.toFixed(1)} s`;
}

/** Jobs per minute (created, and finished by each final status) and their duration percentiles. */
export function HistoryCharts({ minutes }: { minutes: HistoryMinute[] }) {
  const labels = minutes.map((m) => minuteLabel(m.minute));
  const throughput: Series[] = [
    { name: 'created', values: minutes.map((m) => m.created ?? 0) },
    ...finalStatuses(minutes).map((status) => ({ name: status, values: minutes.map((m) => m.finished?.[status] ?? 0) })),
  ];
  const latency: Series[] = [
    { name: 'p50', values: minutes.map((m) => m.p50Seconds) },
    { name: 'p95', values: minutes.map((m) => m.p95Seconds) },
    { name: 'p99', values: minutes.map((m) => m.p99Seconds) },
  ];
  return (
    <div className="charts">
      <LineChart title="Jobs per minute, last hour" series={throughput} labels={labels} format={fmtCount} testId="chart-throughput" />
      <LineChart title="Job duration (created → finished), last hour" series={latency} labels={labels} format={fmtSeconds} testId="chart-latency" />
    </div>
  );
}

/** A warning for each queue nobody consumes: its messages wait until a worker attaches. */
export function QueueWarnings({ queues }: { queues: QueueInfo[] }) {
  const idle = queues.filter((q) => q.consumers === 0 && !q.name.endsWith('.dead'));
  if (idle.length === 0) return null;
  return (
    <div className="alert alert-warn" role="alert" data-testid="no-consumer-warning">
      {idle.map((q) => (
        <p key={q.name}>
          No consumer on <code>{q.name}</code>: its {(q.messages ?? 0).toLocaleString()} {q.messages === 1 ? 'message waits' : 'messages wait'} until a worker attaches.
        </p>
      ))}
    </div>
  );
}

/** The bus consumers of the API's process: handled, retried, dead-lettered, stalled. */
export function ConsumerTable({ consumers }: { consumers: ConsumerHealth[] }) {
  if (consumers.length === 0) return null;
  return (
    <table className="queues consumers" data-testid="consumers-table">
      <caption>Every worker's consumers (the bus's own counters, reported every 5 s)</caption>
      <thead>
        <tr>
          <th scope="col">Worker</th>
          <th scope="col">Queue</th>
          <th scope="col">State</th>
          <th scope="col" className="num">In flight</th>
          <th scope="col" className="num">Handled</th>
          <th scope="col" className="num">Retried</th>
          <th scope="col" className="num">Dead-lettered</th>
          <th scope="col" className="num">Stall recoveries</th>
        </tr>
      </thead>
      <tbody>
        {consumers.map((c) => (
          <tr key={`${c.process} ${c.queue}`} data-testid="consumer-row">
            <td>
              <code>{c.process}</code>
            </td>
            <th scope="row" className="qname">
              <code>{c.queue}</code>
            </th>
            <td className={c.attached ? '' : 'bad'}>{c.attached ? 'attached' : 'detached'}</td>
            <td className="num">{c.inFlight.toLocaleString()}</td>
            <td className="num">{c.handled.toLocaleString()}</td>
            <td className={`num${c.retried > 0 ? ' warn' : ''}`}>{c.retried.toLocaleString()}</td>
            <td className={`num${c.deadLettered > 0 ? ' bad' : ''}`}>{c.deadLettered.toLocaleString()}</td>
            <td className={`num${c.stallRecoveries > 0 ? ' warn' : ''}`}>{c.stallRecoveries.toLocaleString()}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
