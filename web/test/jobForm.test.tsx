import { act, fireEvent, render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { JobForm } from '../src/components/JobForm';
import { ApiError } from '../src/lib/api';
import type { Job } from '../src/lib/types';

function job(details: { method: string; numbers: string }[]): Job {
  return {
    id: 1,
    type: 'math',
    done: false,
    status: 'queued',
    details,
    stepsDone: 0,
    stepsTotal: details.length,
    error: null,
    createdAt: new Date().toISOString(),
    updatedAt: new Date().toISOString(),
    finishedAt: null,
  };
}

function setup(submit = vi.fn(async (d: { method: string; numbers: string }[], _key: string) => job(d))) {
  const onCreated = vi.fn();
  const user = userEvent.setup();
  render(<JobForm submit={submit} onCreated={onCreated} />);
  return { user, submit, onCreated };
}

const numbers = (i: number) => screen.getByTestId(`step-numbers-${i}`) as HTMLInputElement;
const method = (i: number) => screen.getByTestId(`step-method-${i}`) as HTMLSelectElement;
const errorOf = (i: number) => screen.queryByTestId(`step-numbers-${i}-error`);
const submitButton = () => screen.getByTestId('submit-job');

describe('JobForm', () => {
  it('starts with one labelled step that cannot be removed', () => {
    setup();
    expect(screen.getAllByTestId('step')).toHaveLength(1);
    expect(screen.getByLabelText('Method')).toBe(method(0));
    expect(screen.getByLabelText('Numbers')).toBe(numbers(0));
    expect((screen.getByRole('button', { name: 'Remove step 1' }) as HTMLButtonElement).disabled).toBe(true);
  });

  it('shows an inline error after leaving an invalid field, not while first typing', async () => {
    const { user } = setup();
    await user.type(numbers(0), '1,x');
    expect(errorOf(0)).toBeNull();
    await user.tab();
    expect(errorOf(0)?.textContent).toMatch(/“x” is not a number/);
    expect(numbers(0).getAttribute('aria-invalid')).toBe('true');
    expect(numbers(0).getAttribute('aria-describedby')).toContain(errorOf(0)!.id);
    // Fixing it clears the error while typing.
    await user.click(numbers(0));
    await user.keyboard('{Backspace}2');
    expect(errorOf(0)).toBeNull();
    expect(numbers(0).getAttribute('aria-invalid')).toBeNull();
    // A new mistake in a clean field waits for blur rather than nagging mid-typing.
    await user.keyboard(',');
    expect(errorOf(0)).toBeNull();
    await user.tab();
    expect(errorOf(0)?.textContent).toMatch(/number 3/);
  });

  it('validates per method: the same numbers can be fine for one and wrong for another', async () => {
    const { user } = setup();
    await user.type(numbers(0), '8,0');
    await user.tab();
    expect(errorOf(0)).toBeNull();
    await user.selectOptions(method(0), 'divide');
    expect(errorOf(0)?.textContent).toMatch(/Cannot divide by zero/);
    await user.selectOptions(method(0), 'factors');
    expect(errorOf(0)?.textContent).toMatch(/0 has no prime factors/);
    await user.clear(numbers(0));
    await user.type(numbers(0), '12,-3');
    await user.tab();
    expect(errorOf(0)?.textContent).toMatch(/-3 is negative/);
    await user.clear(numbers(0));
    await user.type(numbers(0), '2.5');
    await user.tab();
    expect(errorOf(0)?.textContent).toMatch(/not a whole number/);
    await user.clear(numbers(0));
    await user.type(numbers(0), '18446744073709551616');
    await user.tab();
    expect(errorOf(0)?.textContent).toMatch(/too large/);
    // Changing the method re-checks at once.
    await user.selectOptions(method(0), 'add');
    expect(errorOf(0)).toBeNull();
  });

  it('counts the numbers and limits them to 100', async () => {
    setup();
    fireEvent.change(numbers(0), { target: { value: Array.from({ length: 101 }, () => '1').join(',') } });
    fireEvent.blur(numbers(0));
    expect(errorOf(0)?.textContent).toMatch(/at most 100 numbers/);
    fireEvent.change(numbers(0), { target: { value: '1,2,3' } });
    expect(screen.getByText(/3 numbers/)).toBeTruthy();
  });

  it('adds and removes steps', async () => {
    const { user } = setup();
    await user.type(numbers(0), '1,2,3');
    await user.click(screen.getByRole('button', { name: /Add step/ }));
    await user.click(screen.getByRole('button', { name: /Add step/ }));
    expect(screen.getAllByTestId('step')).toHaveLength(3);
    expect(screen.getByText('Step 3')).toBeTruthy();
    await user.selectOptions(method(1), 'multiply');
    await user.type(numbers(1), '2,3,4');
    await user.selectOptions(method(2), 'factors');
    await user.type(numbers(2), '12,97');
    expect(submitButton().textContent).toBe('Order job (3 steps)');

    await user.click(screen.getByRole('button', { name: 'Remove step 1' }));
    expect(screen.getAllByTestId('step')).toHaveLength(2);
    expect(method(0).value).toBe('multiply');
    expect(numbers(0).value).toBe('2,3,4');
    expect(method(1).value).toBe('factors');
    expect(numbers(1).value).toBe('12,97');
    expect(screen.queryByText('Step 3')).toBeNull();
  });

  it('blocks submitting while invalid and says why', async () => {
    const { user, submit } = setup();
    expect(submitButton().getAttribute('aria-disabled')).toBe('true');
    await user.click(submitButton());
    expect(submit).not.toHaveBeenCalled();
    expect(errorOf(0)?.textContent).toBe('Enter at least one number.');
    expect(document.activeElement).toBe(numbers(0));
    expect(screen.getByText(/Fix the highlighted field to order the job/)).toBeTruthy();

    await user.type(numbers(0), '1,2');
    await user.click(screen.getByRole('button', { name: /Add step/ }));
    await user.selectOptions(method(1), 'divide');
    await user.type(numbers(1), '4,0');
    expect(submitButton().getAttribute('aria-disabled')).toBe('true');
    await user.keyboard('{Enter}');
    expect(submit).not.toHaveBeenCalled();
    expect(errorOf(1)?.textContent).toMatch(/divide by zero/);
  });

  it('submits the normalized steps when valid', async () => {
    const { user, submit, onCreated } = setup();
    await user.type(numbers(0), ' 1, 2 ,3 ');
    await user.click(screen.getByRole('button', { name: /Add step/ }));
    await user.selectOptions(method(1), 'factors');
    await user.type(numbers(1), '12,97');
    expect(submitButton().getAttribute('aria-disabled')).toBeNull();
    await user.click(submitButton());
    expect(submit).toHaveBeenCalledWith(
      [
        { method: 'add', numbers: '1,2,3' },
        { method: 'factors', numbers: '12,97' },
      ],
      expect.stringMatching(/^[0-9a-f-]{36}$/),
    );
    await waitFor(() => expect(onCreated).toHaveBeenCalledTimes(1));
  });

  it('disables the button while the order is in flight', async () => {
    let resolve!: (j: Job) => void;
    const submit = vi.fn(() => new Promise<Job>((r) => (resolve = r)));
    const { user } = setup(submit);
    await user.type(numbers(0), '1');
    await user.click(submitButton());
    expect((submitButton() as HTMLButtonElement).disabled).toBe(true);
    expect(submitButton().textContent).toBe('Ordering…');
    await user.click(submitButton());
    expect(submit).toHaveBeenCalledTimes(1);
    await act(async () => resolve(job([{ method: 'add', numbers: '1' }])));
    expect((submitButton() as HTMLButtonElement).disabled).toBe(false);
  });

  it('maps a server 400 to the fields it names', async () => {
    const body = {
      statusCode: 400,
      error: 'Bad Request',
      message: [
        { property: 'details.1.numbers', value: '1,2', children: [], constraints: { isNumberList: 'numbers must be a comma-separated list of numbers' } },
        { property: 'details.0.method', value: 'add', children: [], constraints: { isIn: 'method must be one of the following values: add' } },
        { property: 'type', value: 'math', children: [], constraints: { isIn: 'type must be math' } },
      ],
    };
    const submit = vi.fn(async () => {
      throw new ApiError('http', 400, body, 'Bad Request');
    });
    const { user } = setup(submit);
    await user.type(numbers(0), '1');
    await user.click(screen.getByRole('button', { name: /Add step/ }));
    await user.type(numbers(1), '1,2');
    await user.click(submitButton());

    await waitFor(() => expect(errorOf(1)?.textContent).toBe('Numbers must be a comma-separated list of numbers.'));
    expect(numbers(1).getAttribute('aria-invalid')).toBe('true');
    expect(errorOf(0)).toBeNull();
    const methodError = document.getElementById(method(0).getAttribute('aria-describedby')!);
    expect(methodError?.textContent).toBe('Method must be one of the following values: add.');
    expect(screen.getByTestId('form-error').textContent).toBe('Type must be math.');

    // Editing the field clears the server's complaint about it.
    // Focus went to the first field the server named.
    await waitFor(() => expect(document.activeElement).toBe(method(0)));
    await user.type(numbers(1), ',3');
    expect(numbers(1).value).toBe('1,2,3');
    expect(errorOf(1)).toBeNull();
  });

  it('maps nested class-validator errors as well', async () => {
    const body = {
      statusCode: 400,
      message: [{ property: 'details', children: [{ property: '0', children: [{ property: 'numbers', children: [], constraints: { max: 'too many numbers' } }] }] }],
    };
    const { user } = setup(vi.fn(async () => Promise.reject(new ApiError('http', 400, body, 'Bad Request'))));
    await user.type(numbers(0), '1,2');
    await user.click(submitButton());
    await waitFor(() => expect(errorOf(0)?.textContent).toBe('Too many numbers.'));
  });

  it('explains an unavailable service without losing the form', async () => {
    const body = { statusCode: 503, error: 'Service Unavailable', message: 'no worker' };
    const { user } = setup(vi.fn(async () => Promise.reject(new ApiError('http', 503, body, 'no worker'))));
    await user.type(numbers(0), '1,2');
    await user.click(submitButton());
    await waitFor(() => expect(screen.getByTestId('form-error').textContent).toMatch(/may not be ordered yet.*never be ordered twice/));
    expect(numbers(0).value).toBe('1,2');
  });

  it('orders the same job again with the same Idempotency-Key, a changed job with a new one', async () => {
    const unavailable = new ApiError('network', 0, null, 'The server cannot be reached.');
    const submit = vi.fn(async (d: { method: string; numbers: string }[], _key: string) => {
      if (submit.mock.calls.length < 3) throw unavailable;
      return job(d);
    });
    const { user, onCreated } = setup(submit);
    await user.type(numbers(0), '1,2');
    await user.click(submitButton());
    await waitFor(() => expect(screen.getByTestId('form-error')).toBeTruthy());
    await user.click(submitButton());
    await waitFor(() => expect(submit).toHaveBeenCalledTimes(2));
    await user.type(numbers(0), ',3');
    await user.click(submitButton());
    await waitFor(() => expect(onCreated).toHaveBeenCalledTimes(1));
    const keys = submit.mock.calls.map((c) => c[1]);
    expect(keys[1]).toBe(keys[0]);
    expect(keys[2]).not.toBe(keys[0]);
    expect(submit.mock.calls[2][0]).toEqual([{ method: 'add', numbers: '1,2,3' }]);
  });
});
