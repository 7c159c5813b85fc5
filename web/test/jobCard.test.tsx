import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
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
