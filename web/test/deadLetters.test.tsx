import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { DeadLetters } from '../src/components/DeadLetters';
import { Api } from '../src/lib/api';
import type { DeadLetter } from '../src/lib/types';

function letter(id: number, over: Partial<DeadLetter> = {}): DeadLetter {
  return {
    id,
    queue: 'mom.math',
    kind: 'math.step',
    messageId: `job-${id}-step-0`,
    reason: 'gave up after 5 attempts: the math service failed with 503 Service Unavailable',
    attempts: 5,
    firstFailedAt: new Date(Date.now() - 60000).toISOString(),
    lastFailedAt: new Date().toISOString(),
    jobId: 40 + id,
    payload: { jobId: 40 + id, step: 0, operation: { method: 'divide', numbers: '8,2' } },
    notReplayable: null,
    ...over,
  };
}

/** A backend of dead letters in memory: replay and discard remove them, as the server does. */
function backend(initial: DeadLetter[]) {
  let stored = [...initial];
  const posts: { path: string; body: unknown }[] = [];
  const queries: URLSearchParams[] = [];
  const answer = (status: number, body: unknown) => new Response(JSON.stringify(body), { status });
  const fetchImpl = vi.fn(async (url: RequestInfo | URL, init: RequestInit = {}) => {
    const { pathname, searchParams } = new URL(String(url));
    if (pathname === '/admin/dead-letters/counts') {
      const queues = ['mom.db', 'mom.math'].map((queue) => ({ queue, count: stored.filter((d) => d.queue === queue).length }));
      return answer(200, { total: stored.length, queues });
    }
    if (pathname === '/admin/dead-letters') {
      queries.push(searchParams);
      const job = searchParams.get('jobId');
      return answer(200, stored.filter((d) => !job || d.jobId === Number(job)));
    }
    const body = JSON.parse(String(init.body));
    posts.push({ path: pathname, body });
    const hit = (d: DeadLetter) => ('ids' in body ? body.ids.includes(d.id) : !body.filter.jobId || d.jobId === body.filter.jobId);
    const gone = stored.filter(hit);
    stored = stored.filter((d) => !hit(d));
    if (pathname.endsWith('/replay')) return answer(200, { replayed: gone.length, notReplayable: 0 });
    return answer(200, { discarded: gone.length });
  });
  const api = new Api('http://api.test', { token: () => 'tok' }, fetchImpl as typeof fetch);
  return { api, posts, queries };
}

describe('Dead letters', () => {
  it('lists dead letters with their counts, replays one and the counts follow', async () => {
    const { api, posts } = backend([letter(2), letter(1, { queue: 'mom.db', kind: 'job.recordStep' })]);
    render(<DeadLetters api={api} pollMs={60000} />);

    const rows = await screen.findAllByTestId('dead-letter');
    expect(rows.map((r) => r.getAttribute('data-id'))).toEqual(['2', '1']);
    expect(within(rows[0]).getByTestId('dead-letter-reason').textContent).toContain('503');
    expect(rows[0].textContent).toContain('#42');
    expect(screen.getByTestId('dead-letters-total').textContent).toBe('2');
    const perQueue = screen.getAllByTestId('dead-letters-count').map((c) => [c.getAttribute('data-queue'), c.textContent]);
    expect(perQueue).toEqual([
      ['mom.db', '1'],
      ['mom.math', '1'],
    ]);

    await userEvent.click(within(rows[0]).getByTestId('replay-one'));
    expect(posts).toEqual([{ path: '/admin/dead-letters/replay', body: { ids: [2] } }]);
    expect((await screen.findByTestId('dead-letters-notice')).textContent).toBe('Replayed 1 dead letter.');
    await waitFor(() => expect(screen.getByTestId('dead-letters-total').textContent).toBe('1'));
    expect(screen.getAllByTestId('dead-letter').map((r) => r.getAttribute('data-id'))).toEqual(['1']);
  });

  it('discards a selection, and replays all matching a filter only after a confirmation', async () => {
    const { api, posts, queries } = backend([letter(3), letter(2), letter(1)]);
    render(<DeadLetters api={api} pollMs={60000} />);
    await screen.findAllByTestId('dead-letter');

    await userEvent.click(screen.getByLabelText('Select dead letter 3'));
    await userEvent.click(screen.getByLabelText('Select dead letter 1'));
    await userEvent.click(screen.getByTestId('discard-selected'));
    expect(posts[0]).toEqual({ path: '/admin/dead-letters/discard', body: { ids: [3, 1] } });
    expect((await screen.findByTestId('dead-letters-notice')).textContent).toBe('Discarded 2 dead letters.');

    await userEvent.type(screen.getByLabelText('Job'), '42');
    await userEvent.click(screen.getByRole('button', { name: 'Filter' }));
    await waitFor(() => expect(queries.at(-1)?.get('jobId')).toBe('42'));
    await userEvent.click(screen.getByTestId('replay-all'));
    expect(posts).toHaveLength(1);
    await userEvent.click(screen.getByTestId('confirm-all'));
    expect(posts[1]).toEqual({ path: '/admin/dead-letters/replay', body: { filter: { jobId: 42 } } });
    expect((await screen.findByTestId('dead-letters-notice')).textContent).toBe('Replayed 1 dead letter.');
    expect(await screen.findByTestId('dead-letters-empty')).toBeTruthy();
  });

  it('does not offer to replay what cannot be replayed, and says why', async () => {
    const why = 'its payload carried secrets (passwordHash), which are not kept; the request must be made again';
    const { api } = backend([letter(1, { queue: 'mom.db', kind: 'user.create', jobId: null, notReplayable: why, payload: { passwordHash: '[redacted]' } })]);
    render(<DeadLetters api={api} pollMs={60000} />);
    const row = await screen.findByTestId('dead-letter');
    expect((within(row).getByTestId('replay-one') as HTMLButtonElement).disabled).toBe(true);
    expect(row.textContent).toContain('Cannot be replayed: its payload carried secrets');
    expect(row.textContent).toContain('[redacted]');
  });

  it('refuses a job filter that is not a job number', async () => {
    const { api, queries } = backend([letter(1)]);
    render(<DeadLetters api={api} pollMs={60000} />);
    await screen.findByTestId('dead-letter');
    await userEvent.type(screen.getByLabelText('Job'), 'abc');
    await userEvent.click(screen.getByRole('button', { name: 'Filter' }));
    expect((await screen.findByRole('alert')).textContent).toBe('Job must be a job number.');
    expect(queries.every((q) => !q.has('jobId'))).toBe(true);
  });
});
