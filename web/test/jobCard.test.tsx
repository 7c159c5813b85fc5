import { fireEvent, render, screen } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { JobCard } from '../src/components/JobCard';
import { normalizeJob } from '../src/lib/jobs';
import type { Job } from '../src/lib/types';

// A finished job exactly as `GET /job/my` sends it: integers past 2^53 − 1 are decimal strings.
const BODY = `{
  "id": 3, "type": "math", "done": true, "status": "done", "stepsDone": 3, "stepsTotal": 3,
  "error": null, "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-01T00:00:01.000Z",
  "finishedAt": "2026-01-01T00:00:01.000Z", "version": 5,
  "details": [
    {"method": "multiply", "numbers": "4294967296,4294967295", "result": "18446744069414584320"},
    {"method": "factors", "numbers": "18446744073709551557,12", "result": [["18446744073709551557"], [2, 3]]},
    {"method": "add", "numbers": "9007199254740990,1", "result": 9007199254740991}
  ]
}`;

function renderJob(body: string) {
  const job = normalizeJob(JSON.parse(body) as Job);
  render(<JobCard job={job} isNew={false} now={Date.parse('2026-01-01T00:01:00.000Z')} />);
  return screen.getAllByTestId('job-step');
}

describe('JobCard shows exact integers', () => {
  it('displays results beyond 2^53 with every digit', () => {
    const [product, factors, sum] = renderJob(BODY);
    expect(product.querySelector('.step-expr')?.textContent).toBe('4294967296 × 4294967295 = 18446744069414584320');
    const rows = [...factors.querySelectorAll('.factors li')].map((li) => [
      li.querySelector('.factor-n')?.textContent,
      li.querySelector('.factor-list')?.textContent,
    ]);
    expect(rows).toEqual([
      ['18446744073709551557', '18446744073709551557'],
      ['12', '2 · 3'],
    ]);
    expect(sum.querySelector('.step-expr')?.textContent).toBe('9007199254740990 + 1 = 9007199254740991');
  });

  it('never shows the quotes of a string result', () => {
    const [product] = renderJob(BODY);
    expect(product.textContent).not.toContain('"');
    expect(product.textContent).not.toContain('584000');
  });
});

describe('JobCard cancels', () => {
  const running = normalizeJob({
    id: 9,
    status: 'running',
    stepsDone: 1,
    stepsTotal: 2,
    createdAt: '2026-01-01T00:00:00.000Z',
    details: [
      { method: 'add', numbers: '1,2', result: 3 },
      { method: 'multiply', numbers: '3,4' },
    ],
  });
  const now = Date.parse('2026-01-01T00:01:00.000Z');

  it('offers Cancel on a running job and reports the click', () => {
    const onCancel = vi.fn();
    render(<JobCard job={running} isNew={false} now={now} cancel={{ onCancel, pending: false }} />);
    fireEvent.click(screen.getByRole('button', { name: 'Cancel job #9' }));
    expect(onCancel).toHaveBeenCalledTimes(1);
  });

  it('disables the button while the cancel is on its way', () => {
    render(<JobCard job={running} isNew={false} now={now} cancel={{ onCancel: () => {}, pending: true }} />);
    const button = screen.getByTestId('job-cancel');
    expect(button).toHaveProperty('disabled', true);
    expect(button.textContent).toBe('Cancelling…');
  });

  it('shows a cancelled job as cancelled, with its reason and no Cancel button', () => {
    const cancelled = normalizeJob({ ...running, status: 'cancelled', error: 'cancelled by its owner', finishedAt: '2026-01-01T00:00:05.000Z' });
    render(<JobCard job={cancelled} isNew={false} now={now} cancel={{ onCancel: () => {}, pending: false }} />);
    expect(screen.getByTestId('job-status').textContent).toBe('Cancelled');
    expect(screen.getByTestId('job-cancelled').textContent).toBe('Cancelled: cancelled by its owner');
    expect(screen.queryByTestId('job-cancel')).toBeNull();
    const states = screen.getAllByTestId('job-step').map((s) => s.getAttribute('data-step-state'));
    expect(states).toEqual(['done', 'cancelled']);
  });

  it('offers no Cancel on a finished job, but shows why a cancel did not happen', () => {
    const finished = normalizeJob({ ...running, status: 'done', stepsDone: 2 });
    render(<JobCard job={finished} isNew={false} now={now} cancel={{ onCancel: () => {}, pending: false, error: 'It had already ended: done.' }} />);
    expect(screen.queryByTestId('job-cancel')).toBeNull();
    expect(screen.getByTestId('job-cancel-error').textContent).toBe('It had already ended: done.');
  });
});
