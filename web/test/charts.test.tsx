import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { ConsumerTable, HistoryCharts, niceMax, pathOf, QueueWarnings } from '../src/components/Charts';
import type { HistoryMinute, QueueInfo } from '../src/lib/types';

function minute(i: number, m: Partial<HistoryMinute> = {}): HistoryMinute {
  return {
    minute: new Date(Date.UTC(2026, 0, 1, 12, i)).toISOString(),
    created: 0,
    finished: {},
    p50Seconds: null,
    p95Seconds: null,
    p99Seconds: null,
    ...m,
  };
}

function queue(name: string, consumers: number | null, messages = 0): QueueInfo {
  return { name, messages, messagesReady: messages, messagesUnacked: 0, consumers, publishRate: null, deliverRate: null, deadLetters: 0 };
}

describe('chart geometry', () => {
  it('rounds the axis up to 1, 2 or 5 times a power of ten', () => {
    expect(niceMax(0)).toBe(1);
    expect(niceMax(3)).toBe(5);
    expect(niceMax(17)).toBe(20);
    expect(niceMax(0.3)).toBeCloseTo(0.5);
    expect(niceMax(100)).toBe(100);
  });

  it('draws a gap where nothing was measured', () => {
    const d = pathOf([1, 2, null, 2], 2);
    expect(d.match(/M/g)).toHaveLength(2);
    expect(d.match(/L/g)).toHaveLength(1);
    expect(pathOf([null, null], 1)).toBe('');
  });
});

describe('HistoryCharts', () => {
  it('draws created and each final status per minute, and the duration percentiles', () => {
    const minutes = [
      minute(0, { created: 4, finished: { done: 2, failed: 1 }, p50Seconds: 2, p95Seconds: 3.8, p99Seconds: 4 }),
      minute(1),
      minute(2, { created: 1, finished: { done: 1, cancelled: 1 }, p50Seconds: 0.5, p95Seconds: 0.5, p99Seconds: 0.5 }),
    ];
    render(<HistoryCharts minutes={minutes} />);
    const throughput = screen.getByTestId('chart-throughput');
    const lines = [...throughput.querySelectorAll('path[data-series]')].map((p) => p.getAttribute('data-series'));
    // A status the panel has never heard of gets a line of its own.
    expect(lines).toEqual(['created', 'done', 'failed', 'cancelled']);
    const created = throughput.querySelector('path[data-series="created"]')!.getAttribute('d')!;
    expect(created.match(/[ML]/g)).toHaveLength(3);
    expect(screen.getByRole('img', { name: /jobs per minute/i })).toBeTruthy();

    const latency = screen.getByTestId('chart-latency');
    const p50 = latency.querySelector('path[data-series="p50"]')!.getAttribute('d')!;
    expect(p50.match(/M/g), 'the empty minute is a gap').toHaveLength(2);
    expect(latency.textContent).toContain('5 s');
    // Either measured minute stands alone: a dot each, since a one-point line is invisible.
    expect(latency.querySelectorAll('g[data-series="p50"] circle')).toHaveLength(2);
    expect(throughput.querySelectorAll('circle')).toHaveLength(0);
  });
});

describe('QueueWarnings', () => {
  it('warns about each queue with no consumer', () => {
    render(<QueueWarnings queues={[queue('mom.db', 1), queue('mom.math', 0, 12)]} />);
    const warning = screen.getByTestId('no-consumer-warning');
    expect(warning.textContent).toContain('mom.math');
    expect(warning.textContent).toContain('12 messages wait');
    expect(warning.textContent).not.toContain('mom.db');
  });

  it('says nothing when every queue is consumed or the count is unknown', () => {
    render(<QueueWarnings queues={[queue('mom.db', 1), queue('mom.math', null)]} />);
    expect(screen.queryByTestId('no-consumer-warning')).toBeNull();
  });
});

describe('ConsumerTable', () => {
  it('shows each consumer with its counters and flags dead letters', () => {
    render(
      <ConsumerTable
        consumers={[{ process: 'node-1:42', queue: 'mom.math', attached: true, inFlight: 2, handled: 30, retried: 1, deadLettered: 3, stallRecoveries: 0, millisSinceLastDelivery: 5 }]}
      />,
    );
    const row = screen.getByTestId('consumer-row');
    expect(row.textContent).toContain('attached');
    expect(row.textContent).toContain('node-1:42');
    expect(row.querySelector('.bad')?.textContent).toBe('3');
  });
});
