/** Client-side checks that mirror the API's rules for math jobs. The server's 400 is the authority. */

export const METHODS = ['add', 'subtract', 'multiply', 'divide', 'factors'] as const;
export type Method = (typeof METHODS)[number];

export const METHOD_LABELS: Record<Method, string> = {
  add: 'Add',
  subtract: 'Subtract',
  multiply: 'Multiply',
  divide: 'Divide',
  factors: 'Prime factors',
};

export const MAX_NUMBERS = 100;
export const U64_MAX = 18446744073709551615n;

const DECIMAL = /^-?\d+(\.\d+)?$/;
const WHOLE = /^\d+$/;

export interface NumbersCheck {
  ok: boolean;
  /** The list as it will be sent: items trimmed, joined by bare commas. */
  normalized: string;
  count: number;
  error?: string;
}

export function isMethod(value: string): value is Method {
  return (METHODS as readonly string[]).includes(value);
}

export function checkNumbers(method: Method, raw: string): NumbersCheck {
  const text = raw.trim();
  if (text === '') return { ok: false, normalized: '', count: 0, error: 'Enter at least one number.' };
  const parts = text.split(',').map((p) => p.trim());
  const normalized = parts.join(',');
  const count = parts.length;
  const fail = (error: string): NumbersCheck => ({ ok: false, normalized, count, error });

  if (count > MAX_NUMBERS) return fail(`Use at most ${MAX_NUMBERS} numbers (this has ${count}).`);
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    const pos = `number ${i + 1}`;
    if (p === '') {
      return fail(count === 1 ? 'Enter at least one number.' : `Value missing at ${pos}: remove the extra comma.`);
    }
    if (method === 'factors') {
      if (!WHOLE.test(p)) {
        if (DECIMAL.test(p)) {
          return fail(
            p.startsWith('-')
              ? `${p} is negative: prime factors need whole numbers of 1 or more.`
              : `${p} is not a whole number: prime factors need whole numbers.`,
          );
        }
        return fail(`“${p}” is not a number.`);
      }
      if (BigInt(p) > U64_MAX) return fail(`${p} is too large: the maximum is ${U64_MAX}.`);
      if (BigInt(p) === 0n) return fail(`0 has no prime factors: use whole numbers of 1 or more (${pos}).`);
      continue;
    }
    if (!DECIMAL.test(p)) return fail(`“${p}” is not a number. Use digits, with an optional minus sign and decimal point.`);
    if (!Number.isFinite(Number(p))) return fail(`${p} is too large.`);
    if (method === 'divide' && i > 0 && Number(p) === 0) return fail(`Cannot divide by zero (${pos}).`);
  }
  return { ok: true, normalized, count };
}

/** Field path → messages, from a Nest/class-validator 400 body (flat dotted paths or nested children). */
export type FieldErrors = Record<string, string[]>;

interface ValidationItem {
  property?: unknown;
  constraints?: Record<string, unknown>;
  children?: unknown;
}

export function flattenServerErrors(body: unknown): FieldErrors {
  const out: FieldErrors = {};
  const add = (path: string, msg: string) => {
    (out[path] ??= []).push(msg);
  };
  const walk = (items: unknown[], prefix: string) => {
    for (const raw of items) {
      if (!raw || typeof raw !== 'object') {
        if (typeof raw === 'string') add(prefix, raw);
        continue;
      }
      const item = raw as ValidationItem;
      const prop = item.property === undefined || item.property === null ? '' : String(item.property);
      const path = prefix && prop ? `${prefix}.${prop}` : prefix || prop;
      if (item.constraints && typeof item.constraints === 'object') {
        for (const v of Object.values(item.constraints)) add(path, String(v));
      }
      if (Array.isArray(item.children)) walk(item.children, path);
    }
  };
  const message = (body as { message?: unknown } | null)?.message;
  if (Array.isArray(message)) walk(message, '');
  else if (typeof message === 'string') add('', message);
  return out;
}

/** Makes a constraint text readable: "email must be an email" → "Email must be an email." */
export function sentence(msg: string): string {
  const s = msg.trim();
  if (!s) return s;
  const first = s[0].toUpperCase() + s.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function checkEmail(value: string): string | undefined {
  if (!value.trim()) return 'Enter your email address.';
  if (!EMAIL.test(value.trim())) return 'Enter a valid email address, like name@example.com.';
  return undefined;
}
