import { describe, expect, it } from 'vitest';
import { checkEmail, checkNumbers, flattenServerErrors, sentence } from '../src/lib/validation';

describe('checkNumbers', () => {
  it('accepts integers and decimals and normalizes spacing', () => {
    expect(checkNumbers('add', ' 1, 2 ,3.5,-4 ')).toEqual({ ok: true, normalized: '1,2,3.5,-4', count: 4 });
  });

  it('requires at least one number', () => {
    expect(checkNumbers('add', '   ').error).toBe('Enter at least one number.');
  });

  it('points at an empty item', () => {
    expect(checkNumbers('add', '1,,2').error).toMatch(/number 2.*extra comma/);
    expect(checkNumbers('multiply', '1,2,').error).toMatch(/number 3/);
  });

  it('rejects what is not a number', () => {
    expect(checkNumbers('add', '1,x').error).toMatch(/“x” is not a number/);
    expect(checkNumbers('add', '1e5').ok).toBe(false);
    expect(checkNumbers('add', '.5').ok).toBe(false);
    expect(checkNumbers('add', '1 2').ok).toBe(false);
  });

  it('allows at most 100 numbers', () => {
    const hundred = Array.from({ length: 100 }, (_, i) => i + 1).join(',');
    expect(checkNumbers('add', hundred).ok).toBe(true);
    expect(checkNumbers('add', `${hundred},101`).error).toMatch(/at most 100 numbers \(this has 101\)/);
  });

  it('rejects dividing by zero, but not a zero dividend', () => {
    expect(checkNumbers('divide', '8,2,0').error).toMatch(/divide by zero \(number 3\)/);
    expect(checkNumbers('divide', '8,0.0').ok).toBe(false);
    expect(checkNumbers('divide', '0,8').ok).toBe(true);
    expect(checkNumbers('multiply', '8,0').ok).toBe(true);
  });

  it('needs positive integers up to u64::MAX for factors', () => {
    expect(checkNumbers('factors', '12,97').ok).toBe(true);
    expect(checkNumbers('factors', '1').ok).toBe(true);
    expect(checkNumbers('factors', '12,0').error).toMatch(/0 has no prime factors.*number 2/);
    expect(checkNumbers('factors', '18446744073709551615').ok).toBe(true);
    expect(checkNumbers('factors', '18446744073709551616').error).toMatch(/too large/);
    expect(checkNumbers('factors', '12,-3').error).toMatch(/-3 is negative/);
    expect(checkNumbers('factors', '1.5').error).toMatch(/not a whole number/);
    expect(checkNumbers('factors', 'abc').error).toMatch(/not a number/);
  });
});

describe('flattenServerErrors', () => {
  it('reads flat dotted property paths', () => {
    const body = {
      statusCode: 400,
      error: 'Bad Request',
      message: [
        { property: 'details.1.numbers', value: '1,0', children: [], constraints: { noZero: 'numbers must not divide by zero' } },
        { property: 'type', children: [], constraints: { isString: 'type must be a string', isNotEmpty: 'type should not be empty' } },
      ],
    };
    expect(flattenServerErrors(body)).toEqual({
      'details.1.numbers': ['numbers must not divide by zero'],
      type: ['type must be a string', 'type should not be empty'],
    });
  });

  it('reads nested class-validator children', () => {
    const body = {
      message: [
        {
          property: 'details',
          children: [{ property: '0', children: [{ property: 'method', children: [], constraints: { isIn: 'method must be valid' } }] }],
        },
      ],
    };
    expect(flattenServerErrors(body)).toEqual({ 'details.0.method': ['method must be valid'] });
  });

  it('keeps a plain string message as a form-level error', () => {
    expect(flattenServerErrors({ message: 'Email is already used.' })).toEqual({ '': ['Email is already used.'] });
  });
});

describe('small helpers', () => {
  it('turns constraint texts into sentences', () => {
    expect(sentence('email must be an email')).toBe('Email must be an email.');
    expect(sentence('Done!')).toBe('Done!');
  });

  it('checks emails', () => {
    expect(checkEmail('')).toMatch(/Enter your email/);
    expect(checkEmail('nope')).toMatch(/valid email/);
    expect(checkEmail('a@b.co')).toBeUndefined();
  });
});
